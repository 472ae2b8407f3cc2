//! `writing.reconstruct`: the document text, cursor and edit metadata, per student and
//! document, from `google_docs_save` and `document_history` events.

use super::{EventFields, SOURCES};
use crate::reconstruct::{Document, Edit, Limits};
use classpulse_core::event::Event;
use classpulse_core::reducer::{Outcome, Reducer, Scope};

/// Reconstructs Google Docs documents (see [`crate::reconstruct`]).
#[derive(Clone, Debug)]
pub struct ReconstructReducer {
    limits: Limits,
}

impl ReconstructReducer {
    /// The reducer name.
    pub const NAME: &'static str = "writing.reconstruct";

    /// A reducer with the given size limits.
    pub fn new(limits: Limits) -> Self {
        ReconstructReducer { limits }
    }
}

impl Reducer for ReconstructReducer {
    type State = Document;

    fn name(&self) -> &str {
        Self::NAME
    }

    fn sources(&self) -> &[&str] {
        SOURCES
    }

    fn scope(&self) -> Scope {
        Scope::student_doc()
    }

    fn reduce(&self, doc: &mut Document, event: &Event<'_>) -> Outcome {
        let kind = event.kind();
        if kind != "google_docs_save" && kind != "document_history" {
            return Outcome::unchanged();
        }
        match Edit::from_client(&EventFields(event)) {
            Ok(Some(edit)) => {
                // Skipped oversized commands are logged by the engine; the rest applied.
                doc.apply_edit(&edit, &self.limits);
                Outcome::changed()
            }
            Ok(None) => Outcome::unchanged(),
            // Nothing was applied: like Learning Observer, a malformed event leaves the
            // document as it was.
            Err(error) => Outcome::error(format!("{kind} not applied: {error}")),
        }
    }
}
