//! `writing.document_list`, `writing.last_document`, `writing.document_tagging`,
//! `writing.document_access_timestamps` (per student) and `writing.tab_list` (per student and
//! document).

use super::{EventFields, SOURCES, server_secs};
use crate::documents::access_timestamps::AccessTimestamps;
use crate::documents::document_list::DocumentList;
use crate::documents::document_tagging::DocumentTags;
use crate::documents::last_document::LastDocument;
use crate::documents::tab_list::TabList;
use classpulse_core::event::Event;
use classpulse_core::reducer::{Outcome, Reducer, Scope};

/// Defines a unit reducer over one of the documents states.
macro_rules! document_reducer {
    ($(#[$doc:meta])* $name:ident, $id:literal, $state:ty, $scope:expr, |$s:ident, $e:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl $name {
            /// The reducer name.
            pub const NAME: &'static str = $id;
        }

        impl Reducer for $name {
            type State = $state;

            fn name(&self) -> &str {
                Self::NAME
            }

            fn sources(&self) -> &[&str] {
                SOURCES
            }

            fn scope(&self) -> Scope {
                $scope
            }

            fn reduce(&self, $s: &mut $state, $e: &Event<'_>) -> Outcome {
                Outcome::from_changed($body)
            }
        }
    };
}

document_reducer!(
    /// Every document a student touched, with title and last access.
    DocumentListReducer, "writing.document_list", DocumentList, Scope::student(),
    |state, event| state.record_event(&EventFields(event), server_secs(event))
);

document_reducer!(
    /// The document a student touched last.
    LastDocumentReducer, "writing.last_document", LastDocument, Scope::student(),
    |state, event| state.record_event(&EventFields(event))
);

document_reducer!(
    /// `#hashtags` of document titles, from `document_history` events.
    DocumentTaggingReducer, "writing.document_tagging", DocumentTags, Scope::student(),
    |state, event| state.record_event(&EventFields(event))
);

document_reducer!(
    /// When the student switched documents.
    DocumentAccessTimestampsReducer, "writing.document_access_timestamps", AccessTimestamps,
    Scope::student(),
    |state, event| state.record_event(&EventFields(event), server_secs(event))
);

document_reducer!(
    /// A document's tabs, with titles and last access.
    TabListReducer, "writing.tab_list", TabList, Scope::student_doc(),
    |state, event| state.record_event(&EventFields(event), server_secs(event))
);
