//! The edits a writing event asks for: a `google_docs_save`'s bundles, or a
//! `document_history` to rebuild from.
//!
//! `google_docs_save` carries `bundles: [{"commands": [...]}, ...]`, applied in order to the
//! stored document. `document_history` carries `history.changelog`, whose entries are
//! `[command, ...metadata]`; Learning Observer rebuilds the document from scratch from the
//! first element of each entry. Every command is parsed before any is applied, so a malformed
//! event changes nothing, as in Learning Observer (where it raises and the state is not
//! written).

use super::apply::{ApplyReport, Limits};
use super::command::{Command, CommandError, parse_list};
use super::document::Document;
use super::fast_parse::save_commands;
use crate::client::ClientFields;
use serde_json::Value;
use thiserror::Error;

/// What one writing event does to a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Apply commands to the stored document (`google_docs_save`).
    Apply(Vec<Command>),
    /// Replace the document with one built from these commands (`document_history`).
    Rebuild(Vec<Command>),
}

/// A writing event whose payload Learning Observer would have raised on.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EditError {
    /// `google_docs_save` without `bundles`.
    #[error("google_docs_save event without `bundles`")]
    MissingBundles,
    /// `bundles` is not a list of objects with `commands`.
    #[error("`bundles` is not a list of objects with `commands`")]
    BadBundles,
    /// `document_history` without `history.changelog`.
    #[error("document_history event without `history.changelog`")]
    MissingHistory,
    /// `history.changelog` is not a list of non-empty lists.
    #[error("`history.changelog` is not a list of non-empty lists")]
    BadHistory,
    /// A command is malformed.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Items Python would iterate over in `value`, for containers whose items are objects: a list,
/// or nothing for an empty object or string. `None` when iterating would fail.
fn python_items(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) => Some(items),
        Value::Object(map) if map.is_empty() => Some(&[]),
        Value::String(s) if s.is_empty() => Some(&[]),
        _ => None,
    }
}

impl Edit {
    /// Parses a `google_docs_save` event's `bundles` field.
    ///
    /// # Errors
    /// When the bundles or a command are malformed (see [`EditError`]).
    pub fn from_save(bundles: Option<&Value>) -> Result<Edit, EditError> {
        let bundles = bundles.ok_or(EditError::MissingBundles)?;
        let mut commands = Vec::new();
        for bundle in python_items(bundles).ok_or(EditError::BadBundles)? {
            let list = bundle
                .as_object()
                .and_then(|b| b.get("commands"))
                .ok_or(EditError::BadBundles)?;
            commands.extend(parse_list(list, "bundle", "commands")?);
        }
        Ok(Edit::Apply(commands))
    }

    /// Parses a `document_history` event's `history` field.
    ///
    /// # Errors
    /// When the changelog or a command is malformed (see [`EditError`]).
    pub fn from_history(history: Option<&Value>) -> Result<Edit, EditError> {
        let changelog = history
            .and_then(Value::as_object)
            .and_then(|h| h.get("changelog"))
            .ok_or(EditError::MissingHistory)?;
        let mut commands = Vec::new();
        for entry in python_items(changelog).ok_or(EditError::BadHistory)? {
            let first = entry
                .as_array()
                .and_then(|e| e.first())
                .ok_or(EditError::BadHistory)?;
            commands.push(Command::parse(first)?);
        }
        Ok(Edit::Rebuild(commands))
    }

    /// Parses the edit of a writing event of type `kind`, given its top-level fields;
    /// `Ok(None)` for event types that do not edit documents.
    ///
    /// # Errors
    /// When a `google_docs_save` or `document_history` payload is malformed.
    pub fn from_event<'v>(
        kind: &str,
        field: impl Fn(&str) -> Option<&'v Value>,
    ) -> Result<Option<Edit>, EditError> {
        match kind {
            "google_docs_save" => Edit::from_save(field("bundles")).map(Some),
            "document_history" => Edit::from_history(field("history")).map(Some),
            _ => Ok(None),
        }
    }

    /// Parses the edit of a client event; `Ok(None)` for event types that do not edit
    /// documents (everything but `google_docs_save` and `document_history`).
    ///
    /// # Errors
    /// When a `google_docs_save` or `document_history` payload is malformed.
    pub fn from_client(client: &impl ClientFields) -> Result<Option<Edit>, EditError> {
        match client.kind().as_ref() {
            "google_docs_save" => {
                if let Some(commands) = client
                    .raw_json("bundles")
                    .and_then(|raw| save_commands(&raw))
                {
                    return Ok(Some(Edit::Apply(commands)));
                }
                Edit::from_save(client.value("bundles").as_ref()).map(Some)
            }
            "document_history" => Edit::from_history(client.value("history").as_ref()).map(Some),
            _ => Ok(None),
        }
    }

    /// The commands of the edit.
    pub fn commands(&self) -> &[Command] {
        match self {
            Edit::Apply(c) | Edit::Rebuild(c) => c,
        }
    }
}

impl Document {
    /// Applies an edit: commands on the stored document, or a rebuild from scratch (tabs and
    /// edit metadata included; the count of unknown commands is kept).
    pub fn apply_edit(&mut self, edit: &Edit, limits: &Limits) -> ApplyReport {
        match edit {
            Edit::Apply(commands) => self.apply_all(commands, limits),
            Edit::Rebuild(commands) => {
                let unknown = self.unknown_commands;
                *self = Document::new();
                self.unknown_commands = unknown;
                self.apply_all(commands, limits)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn save_bundles_apply_in_order() {
        let bundles = json!([
            {"commands": [{"ty": "is", "ibi": 1, "s": "ab"}], "reqId": 0},
            {"commands": [{"ty": "is", "ibi": 3, "s": "c"}]}
        ]);
        let edit = Edit::from_save(Some(&bundles)).unwrap();
        let mut doc = Document::new();
        doc.apply_edit(&edit, &Limits::default());
        assert_eq!(doc.raw_text(), "abc");
        assert_eq!(Edit::from_save(Some(&json!({}))), Ok(Edit::Apply(vec![])));
    }

    #[test]
    fn malformed_saves_are_errors() {
        assert_eq!(Edit::from_save(None), Err(EditError::MissingBundles));
        assert_eq!(
            Edit::from_save(Some(&json!(null))),
            Err(EditError::BadBundles)
        );
        assert_eq!(
            Edit::from_save(Some(&json!([{"x": 1}]))),
            Err(EditError::BadBundles)
        );
        assert!(matches!(
            Edit::from_save(Some(&json!([{"commands": [{"ty": "is"}]}]))),
            Err(EditError::Command(_))
        ));
    }

    #[test]
    fn history_rebuilds_from_scratch() {
        let mut doc = Document::new();
        let limits = Limits::default();
        doc.apply(
            &Command::Insert {
                ibi: 1,
                s: "old".into(),
            },
            &limits,
        );
        let history = json!({"changelog": [
            [{"ty": "is", "ibi": 1, "s": "new"}, 1_700_000_000, "user", 1],
            [{"ty": "ds", "si": 1, "ei": 1}, 1_700_000_001]
        ]});
        let edit = Edit::from_history(Some(&history)).unwrap();
        doc.apply_edit(&edit, &limits);
        assert_eq!(doc.raw_text(), "ew");
        assert_eq!(doc.edit_metadata().len(), 2);
        assert_eq!(Edit::from_history(None), Err(EditError::MissingHistory));
        assert_eq!(
            Edit::from_history(Some(&json!({"changelog": [[]]}))),
            Err(EditError::BadHistory)
        );
    }

    #[test]
    fn other_events_do_not_edit() {
        let none = Edit::from_event("keystroke", |_| None).unwrap();
        assert_eq!(none, None);
    }
}
