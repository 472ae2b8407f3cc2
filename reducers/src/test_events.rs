//! Builds events for unit tests through the real log-line path.

use classpulse_core::event::envelope::{EnvelopeBody, finish_line};
use classpulse_core::event::{Auth, Event, Timestamp};

/// Calls `f` with an event of `client` JSON at 1,700,000,000 s + `offset_ms`.
pub(crate) fn with_event(offset_ms: i64, client: &str, f: impl FnOnce(&Event<'_>)) {
    let auth = Auth::system();
    let mut body = Vec::new();
    EnvelopeBody {
        node: "t",
        conn: 1,
        ip: "",
        agent: "",
        auth: &auth,
        source: "s",
        timer: None,
    }
    .write(&mut body, |o| o.extend_from_slice(client.as_bytes()));
    let mut line = Vec::new();
    finish_line(
        &mut line,
        1,
        Timestamp::from_millis(1_700_000_000_000 + offset_ms),
        &body,
    );
    let text = String::from_utf8(line).unwrap();
    let event = Event::from_line(text.trim_end()).unwrap();
    f(&event);
}
