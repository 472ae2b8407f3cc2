//! The document an event belongs to (Learning Observer's `get_doc_id`).
//!
//! An event's `doc_id` field when it is truthy; otherwise, when `object.url` is a Google Docs
//! document URL (`https://docs.google.com/document/d/<id>/<verb>`), the event's `object.id`.
//! Learning Observer also runs this as an adapter on every incoming event, writing the derived
//! id into `doc_id` so that document-scoped reducers can key on it: [`adapted_doc_id`].

use crate::client::{ClientFields, object_field};
use crate::pycompat::json_key::{json_key, truthy};
use crate::pycompat::text::is_space;
use serde_json::Value;
use std::borrow::Cow;

/// Whether `url` matches Learning Observer's
/// `^https://docs.google.com/document/d/(?P<DOCID>[^/\s]+)/(?P<ACT>[a-zA-Z]+)`.
///
/// The dots of the host are regex wildcards (any character but a newline), as in Learning
/// Observer.
pub fn is_document_url(url: &str) -> bool {
    const PREFIX: &str = "https://docs.google.com/document/d/";
    let mut chars = url.chars();
    for p in PREFIX.chars() {
        match chars.next() {
            Some(c) if c == p || (p == '.' && c != '\n') => {}
            _ => return false,
        }
    }
    let rest = chars.as_str();
    // DOCID runs to the first '/' and may hold no white space; a letter must follow.
    match rest.find('/') {
        Some(end) if end > 0 && !rest[..end].chars().any(is_space) => rest[end + 1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic()),
        _ => false,
    }
}

/// Learning Observer's `get_doc_id`: the event's document, as the JSON key Learning Observer
/// would file it under. `None` when the event has none.
pub fn doc_id(client: &impl ClientFields) -> Option<Cow<'_, str>> {
    match client.string("doc_id") {
        Some(id) if !id.is_empty() => return Some(id),
        Some(_) => {}
        None => {
            if let Some(id) = client.value("doc_id").filter(truthy) {
                return json_key(&id).map(Cow::Owned);
            }
        }
    }
    let url = client.member_str("object", "url")?;
    if !is_document_url(&url) {
        return None;
    }
    match object_field(client, "id")? {
        Value::Null => None,
        id => json_key(&id).map(Cow::Owned),
    }
}

/// The `doc_id` Learning Observer's adapter writes into an event that has no truthy `doc_id`
/// of its own (`document_link_to_doc_id`): the derived id, when it is truthy. `None` when the
/// event keeps its fields as they are.
pub fn adapted_doc_id(client: &impl ClientFields) -> Option<Value> {
    let has_doc_id = match client.string("doc_id") {
        Some(id) => !id.is_empty(),
        None => client.value("doc_id").is_some_and(|v| truthy(&v)),
    };
    if has_doc_id {
        return None;
    }
    let url = client.member_str("object", "url")?;
    if !is_document_url(&url) {
        return None;
    }
    object_field(client, "id").filter(truthy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn client(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn document_urls() {
        assert!(is_document_url(
            "https://docs.google.com/document/d/1Bxi/edit?tab=t.0"
        ));
        assert!(is_document_url("https://docs.google.com/document/d/x/view"));
        // The dots are wildcards, as in Learning Observer's regex.
        assert!(is_document_url("https://docsXgoogleYcom/document/d/x/edit"));
        assert!(!is_document_url(
            "https://docs.google.com/document/u/0/?tgif=d"
        ));
        assert!(!is_document_url("https://docs.google.com/document/d//edit"));
        assert!(!is_document_url(
            "https://docs.google.com/document/d/a b/edit"
        ));
        assert!(!is_document_url("https://docs.google.com/document/d/abc/1"));
        assert!(!is_document_url("https://docs.google.com/document/d/abc"));
    }

    #[test]
    fn doc_id_from_field_or_object() {
        assert_eq!(
            doc_id(&client(json!({"doc_id": "d1"}))).as_deref(),
            Some("d1")
        );
        let from_url = client(json!({"object": {"id": "d2",
            "url": "https://docs.google.com/document/d/d2/edit"}}));
        assert_eq!(doc_id(&from_url).as_deref(), Some("d2"));
        assert_eq!(adapted_doc_id(&from_url), Some(json!("d2")));
        let falsy = client(json!({"doc_id": "", "object": {"id": "d3",
            "url": "https://docs.google.com/document/d/d3/edit"}}));
        assert_eq!(doc_id(&falsy).as_deref(), Some("d3"));
        let main_page = client(json!({"object": {"id": "x",
            "url": "https://docs.google.com/document/u/0/"}}));
        assert_eq!(doc_id(&main_page), None);
        assert_eq!(adapted_doc_id(&main_page), None);
        assert_eq!(doc_id(&client(json!({"event": "visibility"}))), None);
        // An explicit doc_id is kept by the adapter.
        assert_eq!(adapted_doc_id(&client(json!({"doc_id": "d1"}))), None);
        // An empty object id is still "a document" for get_doc_id, but not written by the adapter.
        let empty = client(json!({"object": {"id": "",
            "url": "https://docs.google.com/document/d/q/edit"}}));
        assert_eq!(doc_id(&empty).as_deref(), Some(""));
        assert_eq!(adapted_doc_id(&empty), None);
    }
}
