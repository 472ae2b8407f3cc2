//! The one font charts are drawn with: DejaVu Sans, compiled into the binary (its licence is
//! beside it in `dashboards/assets/fonts/`), so a chart lays out — and a PNG renders — the same
//! on every machine, with no system fonts needed.

use plotters::style::FontStyle;
use std::sync::Once;

/// DejaVu Sans (Bitstream Vera licence).
const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the font as `sans-serif` for every style (once per process).
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a valid TrueType file, checked by the tests; plotters falls back to the
        // normal style for the others.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, DEJAVU_SANS);
    });
}
