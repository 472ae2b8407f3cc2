//! When a student switched documents (Learning Observer's `document_access_timestamps`, per
//! student), for "show me the document they had open at 10:45".
//!
//! Each event about a document other than the last one records `timestamp → doc_id`. The
//! timestamp is the client's `metadata.ts` (milliseconds) when the event has one, as in
//! Learning Observer; where Learning Observer falls back to the wall clock we use the event's
//! server time in milliseconds, so replay gives the same state. `visibility` events are
//! ignored (switching browser tabs sends them from both documents).

use super::doc_id::doc_id;
use crate::client::ClientFields;
use crate::pycompat::{float, json_key::json_key};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `{"timestamps": {ts_ms: doc_id}, "last_document": doc_id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTimestamps {
    /// Document switched to, by timestamp (milliseconds, as Learning Observer writes the key).
    #[serde(default)]
    pub timestamps: BTreeMap<String, String>,
    /// The document of the latest switch (`""` before any).
    #[serde(default)]
    pub last_document: String,
}

/// The key for a switch: the client's `metadata.ts` as Python writes it, else the server time
/// in milliseconds.
pub fn timestamp_key(client_ts: Option<&Value>, server_time_secs: f64) -> String {
    client_ts
        .and_then(json_key)
        .unwrap_or_else(|| float::repr(server_time_secs * 1000.0))
}

impl AccessTimestamps {
    /// Applies one event at `server_time` (seconds): `visibility` events and events without
    /// a document id are ignored. Returns whether the state changed.
    pub fn record_event(&mut self, client: &impl ClientFields, server_time: f64) -> bool {
        if client.kind() == "visibility" {
            return false;
        }
        let Some(id) = doc_id(client) else {
            return false;
        };
        if id == self.last_document {
            return false;
        }
        let client_ts = client.member("metadata", "ts");
        self.record(&id, timestamp_key(client_ts.as_ref(), server_time))
    }

    /// Records an event about `doc_id` with timestamp key `ts` (see [`timestamp_key`]).
    /// Returns whether the state changed.
    pub fn record(&mut self, doc_id: &str, ts: String) -> bool {
        if doc_id == self.last_document {
            return false;
        }
        self.timestamps.insert(ts, doc_id.to_owned());
        self.last_document = doc_id.to_owned();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_switches_only() {
        let mut state = AccessTimestamps::default();
        assert!(state.record("d1", timestamp_key(Some(&json!(1795504717006.578)), 0.0)));
        assert!(!state.record("d1", timestamp_key(Some(&json!(1795504717100_i64)), 0.0)));
        assert!(state.record("d2", timestamp_key(None, 1795504072.5)));
        assert_eq!(
            serde_json::to_value(&state).unwrap(),
            json!({"timestamps": {"1795504717006.578": "d1", "1795504072500.0": "d2"},
                   "last_document": "d2"})
        );
    }
}
