//! `writing.time_on_task`, `writing.tab_time_on_task` and `writing.binned_time_on_task`:
//! time on task per document, per document tab, and per document in time bins.

use super::{SOURCES, server_secs};
use crate::activity::binned_time_on_task::BinnedTimeOnTask;
use crate::activity::time_on_task::TimeOnTask;
use classpulse_core::event::Event;
use classpulse_core::reducer::{Outcome, Reducer, Scope};

/// Time on task per student and document.
#[derive(Clone, Debug)]
pub struct TimeOnTaskReducer {
    /// Longest gap counted in full, in seconds.
    pub threshold_secs: f64,
}

impl TimeOnTaskReducer {
    /// The reducer name.
    pub const NAME: &'static str = "writing.time_on_task";
}

impl Reducer for TimeOnTaskReducer {
    type State = TimeOnTask;

    fn name(&self) -> &str {
        Self::NAME
    }

    fn sources(&self) -> &[&str] {
        SOURCES
    }

    fn scope(&self) -> Scope {
        Scope::student_doc()
    }

    fn reduce(&self, state: &mut TimeOnTask, event: &Event<'_>) -> Outcome {
        state.record(server_secs(event), self.threshold_secs);
        Outcome::changed()
    }
}

/// Time on task per student, document and tab (events with a `tab_id` field).
#[derive(Clone, Debug)]
pub struct TabTimeOnTaskReducer {
    /// Longest gap counted in full, in seconds.
    pub threshold_secs: f64,
}

impl TabTimeOnTaskReducer {
    /// The reducer name.
    pub const NAME: &'static str = "writing.tab_time_on_task";
}

impl Reducer for TabTimeOnTaskReducer {
    type State = TimeOnTask;

    fn name(&self) -> &str {
        Self::NAME
    }

    fn sources(&self) -> &[&str] {
        SOURCES
    }

    fn scope(&self) -> Scope {
        Scope::student_doc_tab()
    }

    fn reduce(&self, state: &mut TimeOnTask, event: &Event<'_>) -> Outcome {
        state.record(server_secs(event), self.threshold_secs);
        Outcome::changed()
    }
}

/// Time on task per student and document, in fixed-size time bins.
#[derive(Clone, Debug)]
pub struct BinnedTimeOnTaskReducer {
    /// Longest gap counted in full, in seconds.
    pub threshold_secs: f64,
    /// Bin width, in seconds.
    pub bin_secs: u32,
}

impl BinnedTimeOnTaskReducer {
    /// The reducer name.
    pub const NAME: &'static str = "writing.binned_time_on_task";
}

impl Reducer for BinnedTimeOnTaskReducer {
    type State = BinnedTimeOnTask;

    fn name(&self) -> &str {
        Self::NAME
    }

    fn sources(&self) -> &[&str] {
        SOURCES
    }

    fn scope(&self) -> Scope {
        Scope::student_doc()
    }

    fn reduce(&self, state: &mut BinnedTimeOnTask, event: &Event<'_>) -> Outcome {
        state.record(server_secs(event), self.threshold_secs, self.bin_secs);
        Outcome::changed()
    }
}
