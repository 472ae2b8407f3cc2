//! The reconstructed document: text in a rope, cursor, edit metadata, and tabs.
//!
//! This is Learning Observer's `google_text`, kept so that every edit costs time proportional
//! to the edit, not to the document: the text lives in a [`ropey::Rope`] indexed by code point
//! (inserting one character into a 100,000-character essay is a few tree hops; [`Text`] also
//! keeps its length, so asking for it costs nothing) and the edit
//! metadata appends in O(1). The commands that change it are applied in `apply.rs`; the JSON
//! form (`{"text", "position", "edit_metadata"[, "tabs"]}`) is in `json.rs`.

use super::edit_metadata::{EditMetadata, EditPoint};
use super::index::{PLACEHOLDER, as_index};
use super::text::Text;
use ropey::Rope;
use std::borrow::Cow;

/// One Google Docs document (or one of its tabs) as reconstructed from its commands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    pub(super) text: Text,
    pub(super) position: i64,
    pub(super) edit_metadata: EditMetadata,
    pub(super) tabs: Vec<(String, Document)>,
    pub(super) unknown_commands: u64,
}

impl Document {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored text, placeholders included (what Learning Observer keeps in its KVS).
    pub fn text(&self) -> &Rope {
        self.text.rope()
    }

    /// The stored text as a string, placeholders included.
    pub fn raw_text(&self) -> String {
        self.text.rope().to_string()
    }

    /// The text teachers see: the stored text without placeholders.
    pub fn visible_text(&self) -> String {
        let mut out = String::with_capacity(self.text.rope().len_bytes());
        for chunk in self.text.rope().chunks() {
            out.extend(chunk.chars().filter(|&c| c != PLACEHOLDER));
        }
        out
    }

    /// A range of the stored text (char indices, clamped), placeholders removed.
    pub fn visible_slice(&self, start: usize, end: usize) -> Cow<'_, str> {
        let len = self.text.len_chars();
        let end = end.min(len);
        let start = start.min(end);
        let slice = self.text.rope().slice(start..end);
        let s: Cow<'_, str> = slice.into();
        if s.contains(PLACEHOLDER) {
            Cow::Owned(s.chars().filter(|&c| c != PLACEHOLDER).collect())
        } else {
            s
        }
    }

    /// Length in code points, placeholders included (Python's `len(text)`).
    pub fn len_chars(&self) -> usize {
        self.text.len_chars()
    }

    /// Whether the document has no text.
    pub fn is_empty(&self) -> bool {
        self.text.len_chars() == 0
    }

    /// The cursor position, 1-based, as Learning Observer records it.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Cursor and length after every cursor move.
    pub fn edit_metadata(&self) -> &EditMetadata {
        &self.edit_metadata
    }

    /// The tabs, in the order they were first addressed.
    pub fn tabs(&self) -> impl ExactSizeIterator<Item = (&str, &Document)> {
        self.tabs.iter().map(|(id, doc)| (id.as_str(), doc))
    }

    /// One tab, by id (`t.0`, `t.abc`).
    pub fn tab(&self, id: &str) -> Option<&Document> {
        self.tabs.iter().find(|(t, _)| t == id).map(|(_, d)| d)
    }

    /// Commands with a `ty` Learning Observer does not know, seen so far (in this document
    /// and its tabs).
    pub fn unknown_commands(&self) -> u64 {
        self.unknown_commands
    }

    /// The tab `id`, created empty when first addressed.
    pub(super) fn tab_mut(&mut self, id: &str) -> &mut Document {
        let index = match self.tabs.iter().position(|(t, _)| t == id) {
            Some(i) => i,
            None => {
                self.tabs.push((id.to_owned(), Document::new()));
                self.tabs.len() - 1
            }
        };
        &mut self.tabs[index].1
    }

    /// Moves the cursor, recording `(cursor, length)` (Learning Observer's position setter).
    pub(super) fn set_position(&mut self, position: i64) {
        self.edit_metadata.push(EditPoint {
            cursor: position,
            length: as_index(self.text.len_chars()),
        });
        self.position = position;
    }

    /// `text[..a] + s + text[b..]` for char indices `a`, `b` within the text, as Python's
    /// string formatting builds it (when `b < a` the run `text[b..a]` appears twice).
    pub(super) fn splice(&mut self, a: usize, b: usize, s: &str) {
        if b >= a {
            if b > a {
                self.text.remove(a..b);
            }
            if !s.is_empty() {
                self.text.insert(a, s);
            }
        } else {
            let repeated: String = self.text.rope().slice(b..a).into();
            let mut insert = String::with_capacity(s.len() + repeated.len());
            insert.push_str(s);
            insert.push_str(&repeated);
            self.text.insert(a, &insert);
        }
    }
}
