//! Every document a student has touched, with its title and last access time
//! (Learning Observer's `document_list`, per student).
//!
//! Any event with a document id ([`super::doc_id::doc_id`]) adds the document if new, sets its
//! title when the event carries `object.title`, and sets `last_access` to the event's server
//! time (seconds since the epoch, as a float).

use super::doc_id::doc_id;
use crate::client::{ClientFields, object_field};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One document of a student's list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentEntry {
    /// The title from the latest event that had one (`object.title`, any JSON value).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub title: Option<Value>,
    /// Server time of the latest event about this document, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_access: Option<f64>,
}

/// A present field, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The documents a student has touched: `{"docs": {doc_id: {"title", "last_access"}}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentList {
    /// By document id.
    #[serde(default)]
    pub docs: BTreeMap<String, DocumentEntry>,
}

impl DocumentList {
    /// Applies one event at `server_time` (seconds): events without a document id are
    /// ignored. Returns whether the list changed.
    pub fn record_event(&mut self, client: &impl ClientFields, server_time: f64) -> bool {
        let Some(id) = doc_id(client) else {
            return false;
        };
        // Nearly every event's title is the string the list already holds: compare it where
        // it lies in the event, and parse it into a `Value` only when it is something else.
        match client.member_str("object", "title") {
            Some(title) => self.update(&id, server_time, |held| {
                if held.as_ref().and_then(Value::as_str) == Some(&*title) {
                    return false;
                }
                *held = Some(Value::String(title.into_owned()));
                true
            }),
            None => self.record(&id, object_field(client, "title"), server_time),
        }
    }

    /// Records an event about `doc_id` at `server_time` (seconds), with the event's
    /// `object.title` when it has one. Returns whether the list changed.
    pub fn record(&mut self, doc_id: &str, title: Option<Value>, server_time: f64) -> bool {
        self.update(doc_id, server_time, |held| match title {
            Some(title) if held.as_ref() != Some(&title) => {
                *held = Some(title);
                true
            }
            _ => false,
        })
    }

    /// Touches `doc_id` at `server_time` (adding it when new) and lets `retitle` update its
    /// title (returning whether it did). Returns whether the entry changed.
    fn update(
        &mut self,
        doc_id: &str,
        server_time: f64,
        retitle: impl FnOnce(&mut Option<Value>) -> bool,
    ) -> bool {
        let touch = |entry: &mut DocumentEntry| {
            let moved = entry.last_access != Some(server_time);
            entry.last_access = Some(server_time);
            retitle(&mut entry.title) | moved
        };
        // The document is nearly always known: look it up without allocating its id.
        if let Some(entry) = self.docs.get_mut(doc_id) {
            return touch(entry);
        }
        touch(self.docs.entry(doc_id.to_owned()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_titles_and_last_access() {
        let mut list = DocumentList::default();
        assert!(list.record("d1", None, 10.5));
        assert!(list.record("d2", Some(json!("Essay #draft")), 11.0));
        assert!(list.record("d1", Some(json!(null)), 12.0));
        assert!(!list.record("d1", None, 12.0));
        assert!(list.record("d2", None, 13.0));
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!({"docs": {
                "d1": {"title": null, "last_access": 12.0},
                "d2": {"title": "Essay #draft", "last_access": 13.0}
            }})
        );
        let back: DocumentList =
            serde_json::from_value(serde_json::to_value(&list).unwrap()).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn events_retitle_only_when_the_title_differs() {
        let event = |title: Value| -> serde_json::Map<String, Value> {
            serde_json::from_value(json!({"doc_id": "d1", "object": {"title": title}})).unwrap()
        };
        let mut list = DocumentList::default();
        assert!(list.record_event(&event(json!("One")), 1.0));
        assert!(!list.record_event(&event(json!("One")), 1.0));
        assert!(list.record_event(&event(json!("Two")), 1.0));
        assert!(list.record_event(&event(json!(["not", "a string"])), 1.0));
        assert!(!list.record_event(&event(json!(["not", "a string"])), 1.0));
        assert_eq!(list.docs["d1"].title, Some(json!(["not", "a string"])));
        assert!(list.record_event(&event(json!("Two")), 1.0));
        let untitled: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"doc_id": "d1"})).unwrap();
        assert!(list.record_event(&untitled, 2.0));
        assert_eq!(list.docs["d1"].title, Some(json!("Two")));
    }
}
