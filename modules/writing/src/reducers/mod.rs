//! The writing analytics as ClassPulse reducers, one per Learning Observer reducer.
//!
//! | reducer | scope | Learning Observer |
//! | --- | --- | --- |
//! | `writing.reconstruct` | student, `doc_id` | `reconstruct` |
//! | `writing.time_on_task` | student, `doc_id` | `gdoc_scope_time_on_task` |
//! | `writing.tab_time_on_task` | student, `doc_id`, `tab_id` | `gdoc_tab_scope_time_on_task` |
//! | `writing.binned_time_on_task` | student, `doc_id` | `binned_time_on_task` |
//! | `writing.tab_list` | student, `doc_id` | `tab_list` |
//! | `writing.event_count` | student | `event_count` (keyed `doc_id: None` there) |
//! | `writing.document_list` | student | `document_list` |
//! | `writing.last_document` | student | `last_document` |
//! | `writing.document_tagging` | student | `document_tagging` |
//! | `writing.document_access_timestamps` | student | `document_access_timestamps` |
//! | `writing.student_profile` | student | `student_profile` |
//!
//! Each adapts the core's [`Event`] to the pure analytics of this crate; the state types are
//! those analytics' types, so stored states have Learning Observer's JSON shape. An event
//! without a scope field (`doc_id`, `tab_id`) never reaches a scoped reducer (the router skips
//! it, as Learning Observer does). Learning Observer's `nlp_components` and
//! `languagetool_process` hold results computed elsewhere and are not reducers here.

mod documents;
mod reconstruct;
mod student;
mod time_on_task;

pub use documents::{
    DocumentAccessTimestampsReducer, DocumentListReducer, DocumentTaggingReducer,
    LastDocumentReducer, TabListReducer,
};
pub use reconstruct::ReconstructReducer;
pub use student::{EventCountReducer, StudentProfileReducer};
pub use time_on_task::{BinnedTimeOnTaskReducer, TabTimeOnTaskReducer, TimeOnTaskReducer};

use crate::client::{ClientFields, ObjectMembers, raw_member};
use classpulse_core::event::Event;
use serde_json::Value;
use std::borrow::Cow;

/// The writing extension's event source.
pub const SOURCE: &str = "org.mitros.writing_analytics";

/// The sources every writing reducer listens to.
pub(crate) const SOURCES: &[&str] = &[SOURCE];

/// A core event seen through [`ClientFields`]: fields are parsed only when read.
pub struct EventFields<'a, 'e>(pub &'a Event<'e>);

impl ClientFields for EventFields<'_, '_> {
    fn kind(&self) -> Cow<'_, str> {
        self.0.kind()
    }

    fn value(&self, name: &str) -> Option<Value> {
        self.0.field::<Value>(name)
    }

    fn string(&self, name: &str) -> Option<Cow<'_, str>> {
        self.0.str_field(name)
    }

    fn raw_json(&self, name: &str) -> Option<Cow<'_, str>> {
        self.0.raw(name).map(|raw| Cow::Borrowed(raw.get()))
    }

    fn member(&self, name: &str, key: &str) -> Option<Value> {
        if name == "object"
            && let Some(answer) = self.indexed_object_member(|m, raw| m.get(raw, key))
        {
            return answer;
        }
        raw_member(self.0.raw(name)?.get(), key)
    }

    fn member_str(&self, name: &str, key: &str) -> Option<Cow<'_, str>> {
        if name == "object"
            && let Some(answer) = self.indexed_object_member(|m, raw| m.get_str(raw, key))
        {
            return answer;
        }
        match self.member(name, key)? {
            Value::String(s) => Some(Cow::Owned(s)),
            _ => None,
        }
    }

    fn may_contain(&self, name: &str, needle: &str) -> bool {
        self.0
            .raw(name)
            .is_some_and(|raw| raw.get().contains(needle))
    }
}

impl<'e> EventFields<'_, 'e> {
    /// A member of `object` read through where its members lie, found once per event (several
    /// reducers read `object.*` of every event): `Some(answer)` when `read` knows the member —
    /// the answer is `None` when `object` is missing, not an object, or lacks it — and `None`
    /// when it is not one the index keeps.
    fn indexed_object_member<T>(
        &self,
        read: impl FnOnce(&ObjectMembers, &'e str) -> Option<Option<T>>,
    ) -> Option<Option<T>> {
        let Some(raw) = self.0.raw("object") else {
            return Some(None);
        };
        let raw = raw.get();
        let members = self.0.memo("writing.object", || ObjectMembers::parse(raw));
        match members.as_ref() {
            Some(members) => read(members, raw),
            None => Some(None),
        }
    }
}

/// The event's server time in seconds, Learning Observer's `server.time`.
pub(crate) fn server_secs(event: &Event<'_>) -> f64 {
    event.time.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientFields;
    use classpulse_core::event::Timestamp;
    use serde_json::Map;

    /// An event read from a log line and the same client event as a JSON map answer every
    /// `object` member alike, borrowed or not.
    #[test]
    fn object_members_read_from_a_log_line_match_the_parsed_event() {
        let clients = [
            r#"{"object":{"title":"Essay #draft","url":"https://x/?tab=t.1","id":"d1"}}"#,
            r#"{"object":{"title":"say \"hi\"\u00e9","url":3,"id":null}}"#,
            r#"{"object":{"title":{"nested":true},"title":"last wins"}}"#,
            r#"{"object":"not an object"}"#,
            r#"{"event":"keystroke"}"#,
        ];
        for client in clients {
            let line = classpulse_core::testing::log_line(
                "n1",
                1,
                Timestamp::from_millis(0),
                "s",
                SOURCE,
                client,
            );
            let event = Event::from_line(&line).unwrap();
            let map: Map<String, Value> = serde_json::from_str(client).unwrap();
            for key in ["title", "url", "id", "tab_id", "other"] {
                assert_eq!(
                    EventFields(&event).member_str("object", key),
                    map.member_str("object", key),
                    "{client}: object.{key}"
                );
                assert_eq!(
                    EventFields(&event).member("object", key),
                    map.member("object", key),
                    "{client}: object.{key}"
                );
            }
        }
    }
}
