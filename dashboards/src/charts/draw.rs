//! Drawing a bar chart with `plotters`, as SVG text or PNG bytes.
//!
//! Every chart ClassPulse draws is a [`BarChart`]: categories (students, TAs, periods of time)
//! with one value each. Category labels and the value written at the end of each bar are
//! placed in pixels from the chart's own coordinates, so each bar has exactly one label and
//! one value text — what a reader (and the tests) count. Text is laid out with DejaVu Sans,
//! compiled in ([`super::font`]), so a PNG looks the same on every machine.

use super::font;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The colour of bars; tests find bars by it.
pub const BAR_COLOR: RGBColor = RGBColor(0x1f, 0x5f, 0xbf);
const TEXT_COLOR: RGBColor = RGBColor(0x1b, 0x1f, 0x24);
const FONT: &str = "sans-serif";

/// Which way bars go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// Categories down the left, bars to the right (names).
    Horizontal,
    /// Categories along the bottom, bars upwards (time).
    Vertical,
}

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Its category's label (a name, a date).
    pub label: String,
    /// Its length.
    pub value: f64,
    /// The value as written at the bar's end (`12 min`); empty: none.
    pub text: String,
}

/// A bar chart.
#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    /// The title.
    pub title: String,
    /// What the values are (`minutes on task`).
    pub axis: String,
    /// The bars, in order (top to bottom, or left to right).
    pub bars: Vec<Bar>,
    /// Which way they go.
    pub orientation: Orientation,
    /// Label every this many categories (1: all).
    pub label_every: usize,
}

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct DrawError(String);

fn err(e: impl std::fmt::Display) -> DrawError {
    DrawError(e.to_string())
}

impl BarChart {
    /// The picture's size in pixels: horizontal charts grow with their bars.
    pub fn size(&self) -> (u32, u32) {
        match self.orientation {
            Orientation::Horizontal => (860, (110 + 26 * self.bars.len() as u32).max(220)),
            Orientation::Vertical => (900, 420),
        }
    }

    /// The chart as an SVG document.
    ///
    /// # Errors
    /// When plotters fails.
    pub fn svg(&self) -> Result<String, DrawError> {
        font::register();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size()).into_drawing_area();
            self.draw(&root).map_err(err)?;
            root.present().map_err(err)?;
        }
        Ok(out)
    }

    /// The chart as a PNG image.
    ///
    /// # Errors
    /// When plotters or the encoder fails.
    pub fn png(&self) -> Result<Vec<u8>, DrawError> {
        font::register();
        let (w, h) = self.size();
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            self.draw(&root).map_err(err)?;
            root.present().map_err(err)?;
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(err)?;
        writer.write_image_data(&rgb).map_err(err)?;
        writer.finish().map_err(err)?;
        Ok(out)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, (FONT, 22).into_font().color(&TEXT_COLOR))?;
        if self.bars.is_empty() {
            let style = (FONT, 16).into_font().color(&TEXT_COLOR);
            area.draw(&Text::new("No data yet.", (24, 24), style))?;
            return Ok(());
        }
        let n = self.bars.len();
        let top = self.bars.iter().map(|b| b.value).fold(0.0, f64::max);
        // Room after the longest bar for its value text.
        let max = if top > 0.0 { top * 1.18 } else { 1.0 };
        let label_style = (FONT, 14)
            .into_font()
            .color(&TEXT_COLOR)
            .pos(match self.orientation {
                Orientation::Horizontal => Pos::new(HPos::Right, VPos::Center),
                Orientation::Vertical => Pos::new(HPos::Center, VPos::Top),
            });
        let value_style = (FONT, 13).into_font().color(&TEXT_COLOR);
        match self.orientation {
            Orientation::Horizontal => {
                let mut chart = ChartBuilder::on(&area)
                    .margin(14)
                    .x_label_area_size(44)
                    .y_label_area_size(190)
                    .build_cartesian_2d(0.0..max, 0.0..n as f64)?;
                chart
                    .configure_mesh()
                    .disable_y_mesh()
                    .y_labels(0)
                    .x_desc(self.axis.as_str())
                    .x_label_formatter(&|v| short_number(*v))
                    .label_style((FONT, 13).into_font().color(&TEXT_COLOR))
                    .draw()?;
                // The first bar at the top.
                let row = |i: usize| (n - 1 - i) as f64;
                chart.draw_series(
                    self.bars
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.value > 0.0)
                        .map(|(i, b)| {
                            Rectangle::new(
                                [(0.0, row(i) + 0.18), (b.value, row(i) + 0.82)],
                                BAR_COLOR.filled(),
                            )
                        }),
                )?;
                for (i, bar) in self.bars.iter().enumerate() {
                    let (x, y) = chart.backend_coord(&(0.0, row(i) + 0.5));
                    if i % self.label_every.max(1) == 0 {
                        root.draw(&Text::new(
                            ellipsize(&bar.label, 24),
                            (x - 8, y),
                            label_style.clone(),
                        ))?;
                    }
                    if !bar.text.is_empty() {
                        let (x, _) = chart.backend_coord(&(bar.value, 0.0));
                        root.draw(&Text::new(
                            bar.text.clone(),
                            (x + 6, y),
                            value_style.clone().pos(Pos::new(HPos::Left, VPos::Center)),
                        ))?;
                    }
                }
            }
            Orientation::Vertical => {
                let mut chart = ChartBuilder::on(&area)
                    .margin(14)
                    .x_label_area_size(40)
                    .y_label_area_size(64)
                    .build_cartesian_2d(0.0..n as f64, 0.0..max)?;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(0)
                    .y_desc(self.axis.as_str())
                    .y_label_formatter(&|v| short_number(*v))
                    .label_style((FONT, 13).into_font().color(&TEXT_COLOR))
                    .draw()?;
                chart.draw_series(
                    self.bars
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.value > 0.0)
                        .map(|(i, b)| {
                            Rectangle::new(
                                [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, b.value)],
                                BAR_COLOR.filled(),
                            )
                        }),
                )?;
                for (i, bar) in self.bars.iter().enumerate() {
                    if i % self.label_every.max(1) == 0 {
                        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
                        root.draw(&Text::new(
                            bar.label.clone(),
                            (x, y + 8),
                            label_style.clone(),
                        ))?;
                    }
                    if !bar.text.is_empty() && bar.value > 0.0 {
                        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, bar.value));
                        root.draw(&Text::new(
                            bar.text.clone(),
                            (x, y - 4),
                            value_style
                                .clone()
                                .pos(Pos::new(HPos::Center, VPos::Bottom)),
                        ))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `1200` → `1200`, `2.5` → `2.5`, `0.333` → `0.33`: axis numbers without noise.
fn short_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// At most `max` characters, with `…` when cut.
pub fn ellipsize(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_labels_are_short() {
        assert_eq!(short_number(1200.0), "1200");
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(0.333), "0.33");
        assert_eq!(short_number(12.6), "13");
        assert_eq!(ellipsize("Alexandra Konstantinopoulou", 10), "Alexandra…");
        assert_eq!(ellipsize("Ann", 10), "Ann");
    }
}
