//! The `office_hours.queue` course view, for the TA view and the educator dashboard's
//! office-hours panel: who is on duty (and what they are doing), the line with each student's
//! question and waiting time, the outstanding offers with their deadlines, the sessions under
//! way, the announcement, the effective settings and the course's statistics.
//!
//! The view is staff-only (it is served over `/wsapi/dashboard`), so it names students.

use crate::config::OfficeHoursConfig;
use crate::reducer::QUEUE_REDUCER;
use crate::state::QueueState;
use async_trait::async_trait;
use classpulse_core::aggregator::{Aggregator, StateReader, StudentRef, SummaryInputs};
use classpulse_core::kvs::KvsError;
use classpulse_core::roster::CourseRoster;
use serde_json::{Value, json};
use std::sync::Arc;

/// The view's name.
pub const QUEUE_VIEW: &str = "office_hours.queue";

/// The office-hours course view.
#[derive(Debug, Clone)]
pub struct QueueView {
    config: Arc<OfficeHoursConfig>,
}

impl QueueView {
    /// A view using these installation settings.
    pub fn new(config: Arc<OfficeHoursConfig>) -> Self {
        QueueView { config }
    }
}

/// A student's name from the roster the hub passes (students only), a staff member's from the
/// queue's own record of the roster.
fn name_of(course: &CourseRoster, state: &QueueState, id: &str) -> String {
    course
        .member(id)
        .map(|m| m.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| state.staff_name(id).to_owned())
}

/// The view of `state` for `course`, as the summary carries it.
pub fn queue_json(state: &QueueState, course: &CourseRoster, config: &OfficeHoursConfig) -> Value {
    let settings = config.effective(&state.course_id, &state.settings);
    let default_us = (config.default_service_secs as i64) * 1_000_000;
    let on_duty: Vec<Value> = state
        .on_duty
        .iter()
        .map(|(ta, d)| {
            let doing = if state.sessions.contains_key(ta) {
                "in_session"
            } else if state.offers.contains_key(ta) {
                "offered"
            } else if d.waiting {
                "waiting_for_student"
            } else {
                "free"
            };
            json!({"id": ta, "name": name_of(course, state, ta), "since": d.since, "origin": d.origin,
                   "doing": doing, "meeting_link": d.meeting_link})
        })
        .collect();
    let line: Vec<Value> = state
        .line
        .iter()
        .enumerate()
        .map(|(i, w)| {
            json!({"position": i + 1, "student": w.student, "name": name_of(course, state, &w.student),
                   "question": w.question, "location": w.location, "joined": w.joined,
                   "expired_offers": w.expired,
                   "estimated_wait_secs": state.estimate_secs(i + 1, default_us)})
        })
        .collect();
    let offers: Vec<Value> = state
        .offers
        .values()
        .map(|o| {
            json!({"id": o.id, "ta": o.ta, "ta_name": name_of(course, state, &o.ta),
                   "student": o.entry.student, "name": name_of(course, state, &o.entry.student),
                   "question": o.entry.question, "location": o.entry.location,
                   "offered": o.offered, "deadline": o.deadline})
        })
        .collect();
    let sessions: Vec<Value> = state
        .sessions
        .values()
        .map(|s| {
            json!({"ta": s.ta, "ta_name": name_of(course, state, &s.ta),
                   "student": s.entry.student, "name": name_of(course, state, &s.entry.student),
                   "question": s.entry.question, "location": s.entry.location,
                   "started": s.started, "meeting_link": s.meeting_link})
        })
        .collect();
    json!({
        "open": state.is_open(),
        "on_duty": on_duty,
        "line": line,
        "offers": offers,
        "sessions": sessions,
        "announcement": state.announcement,
        "settings": settings,
        "average_session_secs": state.service_us(default_us) / 1_000_000,
        "stats": state.stats,
    })
}

#[async_trait]
impl Aggregator for QueueView {
    fn name(&self) -> &str {
        QUEUE_VIEW
    }

    fn title(&self) -> &str {
        "Office hours"
    }

    fn student_inputs(&self) -> &[&str] {
        &[]
    }

    fn course_inputs(&self) -> &[&str] {
        &[QUEUE_REDUCER]
    }

    async fn row(
        &self,
        student: StudentRef<'_>,
        _states: &StateReader<'_>,
    ) -> Result<Value, KvsError> {
        Ok(json!({"name": student.member.name}))
    }

    fn summary(&self, inputs: SummaryInputs<'_>) -> Value {
        let state: QueueState = inputs
            .course_states
            .get(QUEUE_REDUCER)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_else(|| QueueState {
                course_id: inputs.course.id.clone(),
                ..QueueState::default()
            });
        let mut state = state;
        if state.course_id.is_empty() {
            state.course_id = inputs.course.id.clone();
        }
        queue_json(&state, inputs.course, &self.config)
    }
}
