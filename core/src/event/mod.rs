//! The event model: what a reducer sees, and how it is written to and read from the log.
//!
//! An event enters as a client frame, is merged with the connection's `lock_fields`, stamped
//! with the server's metadata ([`envelope`]), appended to the log as one JSON line, and read
//! back from that line as an [`Event`] for the reducers — live and on replay alike, so both see
//! exactly the same thing.

mod auth;
pub mod envelope;
mod fields;
mod memo;
pub mod scan;
mod time;

pub use auth::{Auth, Security, deserialize_owned_auth};
pub use envelope::LogLine;
pub use fields::{Fields, JsonOut, Lookup, RawJson, write_json_string};
pub use memo::Memo;
pub use time::{Timestamp, TimestampParseError};

use serde::Deserialize;
use std::borrow::Cow;

/// Where an event sits in the logs: the node that accepted it and its sequence number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogPosition<'a> {
    /// The node id (`server.node_id`).
    pub node: &'a str,
    /// The node's log sequence number, from 1.
    pub seq: u64,
}

/// The source Learning Observer assigns when an event has none.
pub const GENERIC_SOURCE: &str = "org.ets.generic";

/// One accepted event, as reducers see it: the client's event (lock fields merged, adapters
/// applied) plus the server's metadata. Borrowed from the log line.
#[derive(Debug)]
pub struct Event<'a> {
    /// Where the event is in the log.
    pub position: LogPosition<'a>,
    /// Server time at which the event was accepted: the only clock a reducer may read.
    pub time: Timestamp,
    /// The identity established by event authentication (never from the event body).
    pub auth: Auth<'a>,
    /// The event source (`org.mitros.writing_analytics`), canonicalised.
    pub source: Cow<'a, str>,
    /// The client event's top-level fields.
    pub fields: Fields<'a>,
    /// Set when the event was emitted by the timer service: the timer's id.
    pub timer: Option<Cow<'a, str>>,
    /// The ingest connection the event came in on (0 for timers and imports).
    pub conn: u64,
    /// Values derived from this event, shared by the reducers that see it.
    pub memo: Memo,
    /// The `"event"` field, read once (every reducer asks for it).
    pub(crate) event_type: Cow<'a, str>,
}

impl<'a> Event<'a> {
    /// The event type: the client's `"event"` field (`keystroke`, `google_docs_save`, ...).
    pub fn kind(&self) -> Cow<'a, str> {
        self.event_type.clone()
    }

    /// The event type of `fields` (empty when missing), as [`Event::kind`] returns it.
    pub(crate) fn type_of(fields: &Fields<'a>) -> Cow<'a, str> {
        fields.str("event").unwrap_or(Cow::Borrowed(""))
    }

    /// The event source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The authenticated identity.
    pub fn auth(&self) -> &Auth<'a> {
        &self.auth
    }

    /// The student's safe user id (the key every per-student state hangs off).
    pub fn safe_user_id(&self) -> &str {
        &self.auth.safe_user_id
    }

    /// The raw JSON of a top-level client field.
    pub fn raw(&self, name: &str) -> Option<RawJson<'a>> {
        self.fields.raw(name)
    }

    /// A top-level client field, deserialized; `None` when missing or of another type.
    pub fn field<T: Deserialize<'a>>(&self, name: &str) -> Option<T> {
        self.fields.get(name)
    }

    /// A top-level client field that is a string.
    pub fn str_field(&self, name: &str) -> Option<Cow<'a, str>> {
        self.fields.str(name)
    }

    /// A value derived from this event, computed once and shared by every reducer that asks
    /// for the same type and tag.
    pub fn memo<T: std::any::Any + Send + Sync>(
        &self,
        tag: &'static str,
        make: impl FnOnce() -> T,
    ) -> std::sync::Arc<T> {
        self.memo.get_or_insert(tag, make)
    }

    /// Parses one log line into an event.
    ///
    /// # Errors
    /// When the line is not a ClassPulse log line (see [`envelope`]).
    pub fn from_line(line: &'a str) -> Result<Event<'a>, envelope::LineError> {
        LogLine::parse(line)?.into_event()
    }
}
