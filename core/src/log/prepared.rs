//! What ingest already knows about an event it hands to the log, so that the router can build
//! the [`Event`] for a committed line without parsing the line again.
//!
//! The result must be exactly what parsing the line gives (replay parses; live does not): the
//! `prepared_events_equal_parsed_lines` test holds the two paths together.

use crate::event::{Auth, Event, Fields, LogPosition, RawJson, Timestamp};
use std::borrow::Cow;
use std::sync::Arc;

/// Where one top-level field of the client event sits in the envelope body: byte ranges of the
/// key's text (between its quotes) and of the value's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpan {
    /// Key text range, relative to the body.
    pub key: (u32, u32),
    /// Value JSON range, relative to the body.
    pub value: (u32, u32),
    /// The key was written with escapes (decode before use).
    pub key_escaped: bool,
}

impl FieldSpan {
    /// The same span moved `by` bytes later.
    pub fn shifted(self, by: u32) -> Self {
        FieldSpan {
            key: (self.key.0 + by, self.key.1 + by),
            value: (self.value.0 + by, self.value.1 + by),
            key_escaped: self.key_escaped,
        }
    }
}

/// The envelope metadata of an event and its field spans.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The node id.
    pub node: Arc<str>,
    /// The identity.
    pub auth: Arc<Auth<'static>>,
    /// The canonical source.
    pub source: Arc<str>,
    /// The connection id.
    pub conn: u64,
    /// The client event's top-level fields, relative to the envelope body.
    pub fields: Vec<FieldSpan>,
}

impl Prepared {
    /// The event, given the body's text and the line's sequence number and time.
    pub fn event<'a>(&'a self, body: &'a str, seq: u64, time: Timestamp) -> Option<Event<'a>> {
        let mut entries = Vec::with_capacity(self.fields.len());
        for span in &self.fields {
            let key = body.get(span.key.0 as usize..span.key.1 as usize)?;
            let key = if span.key_escaped {
                let quoted = format!("\"{key}\"");
                Cow::Owned(serde_json::from_str::<String>(&quoted).ok()?)
            } else {
                Cow::Borrowed(key)
            };
            let value = body.get(span.value.0 as usize..span.value.1 as usize)?;
            entries.push((Fields::tag(&key), key, RawJson::trusted(value)));
        }
        let fields = Fields::from_entries(entries);
        Some(Event {
            event_type: Event::type_of(&fields),
            position: LogPosition {
                node: &self.node,
                seq,
            },
            time,
            auth: Auth {
                providence: Cow::Borrowed(&self.auth.providence),
                safe_user_id: Cow::Borrowed(&self.auth.safe_user_id),
                sec: self.auth.sec,
                user_id: Cow::Borrowed(&self.auth.user_id),
            },
            source: Cow::Borrowed(&self.source),
            fields,
            timer: None,
            conn: self.conn,
            memo: Default::default(),
        })
    }
}
