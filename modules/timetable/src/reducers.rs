//! The timetable's reducers: the institution-wide catalog, and each course's live state.
//!
//! - [`CatalogReducer`] (`timetable.catalog`, one global state): the whole [`Timetable`] —
//!   terms, rooms, people, courses — for conflict checks, week views, `.ics` export and the
//!   next import's diff.
//! - [`CourseReducer`] (`timetable.course`, one state per course): the course's schedule and
//!   its live now/next. At every event it recomputes [`Live`] at the event's server time,
//!   arms one timer (`timetable.tick.<course>.<due>`) for the next start or end, and, as TAs' blocks
//!   begin and end, emits the office-hours module's `ta_on_duty` / `ta_off_duty` events (as
//!   timers due at once, so they go through the log) or, in reminder mode, notifies the
//!   course's staff.
//!
//! Both are pure: time is the event's, and the only inputs are the state and the event.

use crate::events::{self, OFFICE_HOURS_SOURCE, SOURCE, kind};
use crate::live::{CourseSchedule, Live, compute};
use crate::model::{DutyMode, Timetable};
use classpulse_core::event::{Event, Timestamp};
use classpulse_core::reducer::{Effect, Outcome, Recipient, Reducer, Scope, TimerRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// The catalog reducer's name.
pub const CATALOG: &str = "timetable.catalog";
/// The course reducer's name.
pub const COURSE: &str = "timetable.course";

/// The whole timetable, one global state.
#[derive(Clone, Copy, Debug, Default)]
pub struct CatalogReducer;

impl Reducer for CatalogReducer {
    type State = Timetable;

    fn name(&self) -> &str {
        CATALOG
    }

    fn sources(&self) -> &[&str] {
        &[SOURCE]
    }

    fn scope(&self) -> Scope {
        Scope::global()
    }

    fn reduce(&self, state: &mut Timetable, event: &Event<'_>) -> Outcome {
        if event.kind() == kind::TICK || !events::is_trusted(event) {
            return Outcome::unchanged();
        }
        match events::apply_to_timetable(state, event) {
            Ok(changed) => Outcome::from_changed(changed),
            Err(reason) => Outcome::error(reason),
        }
    }
}

/// One course's schedule and live state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CourseState {
    /// The schedule, once imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<CourseSchedule>,
    /// Now and next, as of the last event.
    #[serde(default)]
    pub live: Live,
    /// TAs this course has put on duty (automatic mode) or announced (reminder mode), with
    /// the block that did it.
    #[serde(default)]
    pub duty: BTreeMap<String, String>,
    /// When the course's timer is armed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_at: Option<Timestamp>,
}

/// The per-course reducer.
#[derive(Clone, Copy, Debug, Default)]
pub struct CourseReducer;

/// The id of a course's now/next timer due at `at`. Each due time gets its own id: the
/// core drops a timer re-armed under the id of the timer whose event is being reduced (its
/// "fired" record is applied after the effects of the same event), so a tick re-arming itself
/// under one fixed id would be lost.
pub fn tick_id(course: &str, at: Timestamp) -> String {
    format!("timetable.tick.{course}.{}", at.as_micros())
}

impl Reducer for CourseReducer {
    type State = CourseState;

    fn name(&self) -> &str {
        COURSE
    }

    fn sources(&self) -> &[&str] {
        &[SOURCE]
    }

    fn scope(&self) -> Scope {
        Scope::course()
    }

    fn reduce(&self, state: &mut CourseState, event: &Event<'_>) -> Outcome {
        if !events::is_trusted(event) {
            return Outcome::unchanged();
        }
        let Some(course_id) = event.str_field("course_id") else {
            return Outcome::unchanged();
        };
        match event.kind().as_ref() {
            kind::COURSE_CHANGED => match event.field::<CourseSchedule>("schedule") {
                Some(s) if s.course.id == course_id => state.schedule = Some(s),
                Some(_) => return Outcome::error("schedule.course.id differs from course_id"),
                None => return Outcome::error("malformed timetable.course.changed event"),
            },
            kind::COURSE_REMOVED => state.schedule = None,
            kind::MEETING_CHANGED
            | kind::MEETING_REMOVED
            | kind::OFFICE_HOURS_CHANGED
            | kind::OFFICE_HOURS_REMOVED => {
                let Some(schedule) = &mut state.schedule else {
                    return Outcome::error(format!(
                        "course {course_id} has no schedule yet: import it before editing it"
                    ));
                };
                match events::apply_course_edit(&mut schedule.course, event) {
                    Ok(true) => {}
                    Ok(false) => return Outcome::unchanged(),
                    Err(reason) => return Outcome::error(reason),
                }
            }
            kind::TICK => {}
            _ => return Outcome::unchanged(),
        }
        recompute(state, &course_id, event.time)
    }
}

/// Recomputes `state.live` at `at`, and returns the duty changes and the timer as effects.
fn recompute(state: &mut CourseState, course: &str, at: Timestamp) -> Outcome {
    let (live, mode) = match &state.schedule {
        Some(s) => (compute(s, at), s.office_hours_mode),
        None => (
            Live {
                at,
                ..Live::default()
            },
            DutyMode::Automatic,
        ),
    };
    let mut desired: BTreeMap<String, (String, Timestamp)> = BTreeMap::new();
    for d in &live.on_duty {
        let entry = desired
            .entry(d.ta.clone())
            .or_insert_with(|| (d.block.clone(), d.end));
        entry.1 = entry.1.max(d.end);
    }
    let mut outcome = Outcome::changed();
    let off: Vec<(String, String)> = state
        .duty
        .iter()
        .filter(|(ta, _)| !desired.contains_key(*ta))
        .map(|(ta, block)| (ta.clone(), block.clone()))
        .collect();
    for (ta, block) in off {
        outcome = duty_effect(outcome, mode, course, &ta, &block, false, at, None);
    }
    for (ta, (block, until)) in &desired {
        if !state.duty.contains_key(ta) {
            outcome = duty_effect(outcome, mode, course, ta, block, true, at, Some(*until));
        }
    }
    state.duty = desired
        .into_iter()
        .map(|(ta, (block, _))| (ta, block))
        .collect();
    if live.next_change != state.tick_at {
        if let Some(old) = state.tick_at {
            // A no-op when it is the tick being reduced (already fired).
            outcome = outcome.with(Effect::CancelTimer {
                id: tick_id(course, old),
            });
        }
        if let Some(when) = live.next_change {
            outcome = outcome.timer(TimerRequest {
                id: tick_id(course, when),
                at: when,
                event: json!({"event": kind::TICK, "source": SOURCE, "course_id": course}),
            });
        }
        state.tick_at = live.next_change;
    }
    state.live = live;
    outcome
}

#[allow(clippy::too_many_arguments)]
fn duty_effect(
    outcome: Outcome,
    mode: DutyMode,
    course: &str,
    ta: &str,
    block: &str,
    on: bool,
    at: Timestamp,
    until: Option<Timestamp>,
) -> Outcome {
    match mode {
        DutyMode::Automatic => {
            let kind = if on {
                kind::TA_ON_DUTY
            } else {
                kind::TA_OFF_DUTY
            };
            let mut event = json!({
                "event": kind,
                "source": OFFICE_HOURS_SOURCE,
                "course_id": course,
                "ta": ta,
                "origin": "timetable",
                "block_id": block,
                "at": at,
            });
            if let Some(until) = until {
                event["until"] = json!(until);
            }
            outcome.timer(TimerRequest {
                id: format!(
                    "timetable.duty.{course}.{ta}.{}.{}",
                    if on { "on" } else { "off" },
                    at.as_micros()
                ),
                at,
                event,
            })
        }
        DutyMode::Reminder => outcome.notify(
            Recipient::CourseStaff(course.to_owned()),
            json!({
                "status": "notify",
                "kind": "office_hours_reminder",
                "course_id": course,
                "ta": ta,
                "block_id": block,
                "action": if on { "open" } else { "close" },
                "at": at,
                "until": until,
            }),
        ),
    }
}
