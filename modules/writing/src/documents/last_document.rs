//! The document a student touched last (Learning Observer's `last_document`, per student).

use super::doc_id::doc_id;
use crate::client::ClientFields;
use serde::{Deserialize, Serialize};

/// `{"document_id": ...}` once the student has touched a document; `null` before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LastDocument(pub Option<LastDocumentState>);

/// The stored form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDocumentState {
    /// The latest document id seen.
    pub document_id: String,
}

impl LastDocument {
    /// Applies one event: events without a document id are ignored. Returns whether the
    /// state changed.
    pub fn record_event(&mut self, client: &impl ClientFields) -> bool {
        doc_id(client).is_some_and(|id| self.record(&id))
    }

    /// Records an event about `doc_id`. Returns whether the state changed.
    pub fn record(&mut self, doc_id: &str) -> bool {
        if self.document_id() == Some(doc_id) {
            return false;
        }
        self.0 = Some(LastDocumentState {
            document_id: doc_id.to_owned(),
        });
        true
    }

    /// The latest document id.
    pub fn document_id(&self) -> Option<&str> {
        self.0.as_ref().map(|s| s.document_id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest() {
        let mut last = LastDocument::default();
        assert_eq!(serde_json::to_string(&last).unwrap(), "null");
        assert!(last.record("a"));
        assert!(!last.record("a"));
        assert!(last.record("b"));
        assert_eq!(
            serde_json::to_string(&last).unwrap(),
            r#"{"document_id":"b"}"#
        );
    }
}
