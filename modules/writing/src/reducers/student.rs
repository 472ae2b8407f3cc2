//! `writing.event_count` and `writing.student_profile`: per-student counters and identity.

use super::{EventFields, SOURCES};
use crate::student::event_count::EventCount;
use crate::student::student_profile::StudentProfile;
use classpulse_core::event::Event;
use classpulse_core::reducer::{Outcome, Reducer, Scope};

/// Counts a student's writing events.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventCountReducer;

impl EventCountReducer {
    /// The reducer name.
    pub const NAME: &'static str = "writing.event_count";
}

impl Reducer for EventCountReducer {
    type State = EventCount;

    fn name(&self) -> &str {
        Self::NAME
    }

    fn sources(&self) -> &[&str] {
        SOURCES
    }

    fn scope(&self) -> Scope {
        Scope::student()
    }

    fn reduce(&self, state: &mut EventCount, _event: &Event<'_>) -> Outcome {
        state.record();
        Outcome::changed()
    }
}

/// Keeps the student's e-mail and id.
#[derive(Clone, Copy, Debug, Default)]
pub struct StudentProfileReducer;

impl StudentProfileReducer {
    /// The reducer name.
    pub const NAME: &'static str = "writing.student_profile";
}

impl Reducer for StudentProfileReducer {
    type State = StudentProfile;

    fn name(&self) -> &str {
        Self::NAME
    }

    fn sources(&self) -> &[&str] {
        SOURCES
    }

    fn scope(&self) -> Scope {
        Scope::student()
    }

    fn reduce(&self, state: &mut StudentProfile, event: &Event<'_>) -> Outcome {
        Outcome::from_changed(state.record_event(&EventFields(event), Some(event.safe_user_id())))
    }
}
