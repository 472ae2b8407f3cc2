//! The dashboards' timetable panel: a course view (`timetable.now`) whose summary is the
//! course's sessions and office-hour duty now and next.
//!
//! It reads only the course's state (which carries the names it shows), so the hub
//! recomputes it when that state changes — the course reducer's timer ticks at each session
//! start and end — and pushes it to every educator watching the course. It has no per-student
//! rows.

use crate::reducers::{COURSE, CourseState};
use crate::view::panel_view;
use async_trait::async_trait;
use classpulse_core::aggregator::{Aggregator, StateReader, StudentRef, SummaryInputs};
use classpulse_core::kvs::KvsError;
use serde_json::{Value, json};

/// The view's name, as pages subscribe to it.
pub const VIEW: &str = "timetable.now";

/// The timetable panel's aggregator.
#[derive(Clone, Copy, Debug, Default)]
pub struct NowPanel;

#[async_trait]
impl Aggregator for NowPanel {
    fn name(&self) -> &str {
        VIEW
    }

    fn title(&self) -> &str {
        "Timetable"
    }

    fn student_inputs(&self) -> &[&str] {
        &[]
    }

    fn course_inputs(&self) -> &[&str] {
        &[COURSE]
    }

    async fn row(&self, _: StudentRef<'_>, _: &StateReader<'_>) -> Result<Value, KvsError> {
        Ok(Value::Null)
    }

    /// `{"schedule": false}` for a course without a timetable; otherwise the panel view
    /// ([`panel_view`]) at the hub's current time.
    fn summary(&self, inputs: SummaryInputs<'_>) -> Value {
        let schedule = inputs
            .course_states
            .get(COURSE)
            .and_then(|v| serde_json::from_value::<CourseState>(v.clone()).ok())
            .and_then(|state| state.schedule);
        match schedule {
            Some(schedule) => {
                let mut view = panel_view(&schedule, inputs.now);
                view["schedule"] = json!(true);
                view
            }
            None => json!({"schedule": false}),
        }
    }
}
