//! `#hashtags` in document titles, to group a student's documents
//! (Learning Observer's `document_tagging`, per student).
//!
//! Only `document_history` events count (they are sent when a document is opened, with its
//! title). Each `#word` of `object.title` (regex `#(\w+)`) maps to the documents carrying it,
//! in the order they were first tagged.

use super::doc_id::doc_id;
use crate::client::{ClientFields, object_field};
use crate::pycompat::text::is_word;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `{"tags": {tag: [doc_id, ...]}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentTags {
    /// Document ids by tag.
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<String>>,
}

/// The tags of a title: what Python's `re.findall(r'#(\w+)', title)` returns.
pub fn hashtags(title: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = title;
    while let Some(hash) = rest.find('#') {
        let after = &rest[hash + 1..];
        let end = after
            .char_indices()
            .find(|&(_, c)| !is_word(c))
            .map_or(after.len(), |(i, _)| i);
        if end > 0 {
            tags.push(&after[..end]);
        }
        rest = &after[end..];
    }
    tags
}

impl DocumentTags {
    /// Applies one event: only `document_history` events with a document id and a string
    /// `object.title` count. Returns whether the tags changed.
    pub fn record_event(&mut self, client: &impl ClientFields) -> bool {
        if client.kind() != "document_history" {
            return false;
        }
        let Some(id) = doc_id(client) else {
            return false;
        };
        match object_field(client, "title") {
            Some(Value::String(title)) => self.record(&id, &title),
            _ => false,
        }
    }

    /// Records the title of `doc_id`. Returns whether the tags changed.
    pub fn record(&mut self, doc_id: &str, title: &str) -> bool {
        let mut changed = false;
        for tag in hashtags(title) {
            let docs = self.tags.entry(tag.to_owned()).or_default();
            if !docs.iter().any(|d| d == doc_id) {
                docs.push(doc_id.to_owned());
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hashtags_like_python() {
        assert_eq!(hashtags("Node driver essay #lo_event"), ["lo_event"]);
        assert_eq!(hashtags("##a #b-c # d #é7"), ["a", "b", "é7"]);
        assert!(hashtags("no tags#").is_empty());
    }

    #[test]
    fn groups_documents_by_tag() {
        let mut tags = DocumentTags::default();
        assert!(tags.record("d1", "Outline #unit1"));
        assert!(tags.record("d2", "Draft #unit1 #final"));
        assert!(!tags.record("d1", "Outline #unit1"));
        assert!(!tags.record("d3", "No tags"));
        assert_eq!(tags.tags["unit1"], ["d1", "d2"]);
        assert_eq!(tags.tags["final"], ["d2"]);
    }
}
