//! Google Docs document reconstruction (Learning Observer's `reconstruct_doc.py`).
//!
//! The writing extension forwards Google Docs' own save requests (`google_docs_save`) and, on
//! load, the document's revision history (`document_history`). Both carry Google's edit
//! commands; replaying them rebuilds the text the student sees, the cursor, and the
//! cursor/length series behind Deane plots.
//!
//! * [`command`] parses commands with Learning Observer's acceptance rules,
//! * [`edit`] turns an event's payload into an [`Edit`],
//! * [`apply`] applies commands to a [`Document`] with Learning Observer's index rules
//!   ([`index`]), in time proportional to the edit,
//! * [`edit_metadata`] holds the O(1)-append cursor/length series,
//! * [`text`] keeps the text in a rope that knows its length,
//! * `json` gives the document Learning Observer's JSON form.

pub mod apply;
pub mod command;
pub mod document;
pub mod edit;
pub mod edit_metadata;
pub mod fast_parse;
pub mod index;
mod json;
pub mod text;

#[cfg(test)]
mod model_tests;

pub use apply::{ApplyReport, Limits};
pub use command::{Command, CommandError, ReplaceEntry};
pub use document::Document;
pub use edit::{Edit, EditError};
pub use edit_metadata::{EditMetadata, EditPoint};
pub use index::PLACEHOLDER;
