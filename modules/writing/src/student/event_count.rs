//! How many writing events a student sent (Learning Observer's `event_count`).
//!
//! Learning Observer registers it per student but keys it as if per document, so every event
//! of a student lands under `doc_id: None`: in effect, one count per student, which is how we
//! key it.

use serde::{Deserialize, Serialize};

/// `{"count": n}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCount {
    /// Events seen.
    #[serde(default)]
    pub count: u64,
}

impl EventCount {
    /// Counts one event.
    pub fn record(&mut self) {
        self.count += 1;
    }
}
