//! Live now/next for one course: the sessions in progress and the next ones, the TAs on
//! office-hour duty now and next, and when that next changes — a pure function of the course's
//! schedule and an instant.
//!
//! The course reducer ([`crate::reducers::CourseReducer`]) calls [`compute`] at every event's
//! server time and arms a timer for [`Live::next_change`], so the stored state (and the
//! dashboards' timetable panel) moves by itself when a session starts or ends. The HTTP API
//! calls it at request time for "starts in / ends in".

use crate::model::{Course, DutyMode, SectionKind};
use crate::recur::{DateRange, Recurrence, Zones, day_number};
use classpulse_core::event::Timestamp;
use serde::{Deserialize, Serialize};

/// Everything the live computation needs about a course, carried whole by the
/// `timetable.course.changed` event so the reducers never look elsewhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourseSchedule {
    /// The course with its sections, meetings and office-hour blocks.
    pub course: Course,
    /// Its term's holidays.
    #[serde(default)]
    pub holidays: Vec<DateRange>,
    /// Its term's dates, when it has a term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<DateRange>,
    /// The institution's time zone.
    pub time_zone: String,
    /// How office-hour blocks drive duty (resolved from the course and the config).
    #[serde(default)]
    pub office_hours_mode: DutyMode,
}

/// A class session, in progress or upcoming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Section id.
    pub section: String,
    /// Section kind.
    pub kind: SectionKind,
    /// Meeting id.
    pub meeting: String,
    /// Start instant.
    pub start: Timestamp,
    /// End instant.
    pub end: Timestamp,
    /// Room id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Free-text location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Who teaches it.
    #[serde(default)]
    pub instructors: Vec<String>,
}

/// An office-hour block occurrence, in progress or upcoming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duty {
    /// Block id.
    pub block: String,
    /// The TA.
    pub ta: String,
    /// Start instant.
    pub start: Timestamp,
    /// End instant.
    pub end: Timestamp,
    /// Room id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Free-text location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A course's now and next at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Live {
    /// The instant this was computed for.
    pub at: Timestamp,
    /// Sessions in progress.
    pub now: Vec<Session>,
    /// The next sessions to start (all those starting at the earliest next start).
    pub next: Vec<Session>,
    /// Office-hour blocks in progress.
    pub on_duty: Vec<Duty>,
    /// The next office-hour blocks to start (all those starting at the earliest next start).
    pub next_duty: Vec<Duty>,
    /// When any of the above next changes (a session or block starts or ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_change: Option<Timestamp>,
}

/// An occurrence's (start, end).
type Span = (Timestamp, Timestamp);

/// The current and next occurrence of `rec` around `at`.
fn around(
    zones: &mut Zones,
    rec: &Recurrence,
    holidays: &[DateRange],
    at: Timestamp,
) -> (Option<Span>, Option<Span>) {
    let tz = zones.get(rec.time_zone.as_deref());
    // Dates more than a day before `at`'s local date cannot be current or next.
    let today = day_number(Zones::civil(&tz, at).date());
    let mut current = None;
    for date in rec.dates(holidays) {
        if day_number(date) < today - 1 {
            continue;
        }
        let (start, end) = Zones::span(&tz, date, rec.start, rec.end);
        if end <= at {
            continue;
        }
        if start <= at {
            current = Some((start, end));
            continue;
        }
        return (current, Some((start, end)));
    }
    (current, None)
}

/// Computes `schedule`'s now and next at `at`.
pub fn compute(schedule: &CourseSchedule, at: Timestamp) -> Live {
    let mut zones = match Zones::new(&schedule.time_zone) {
        Ok(z) => z,
        Err(_) => Zones::new("UTC").expect("UTC is always known"),
    };
    let mut live = Live {
        at,
        ..Live::default()
    };
    let mut next_start: Option<Timestamp> = None;
    let mut next_duty_start: Option<Timestamp> = None;
    let mut change: Option<Timestamp> = None;
    let earliest = |t: Timestamp, slot: &mut Option<Timestamp>| {
        if slot.is_none_or(|c| t < c) {
            *slot = Some(t);
        }
    };
    let course = &schedule.course;
    let mut upcoming: Vec<Session> = Vec::new();
    for section in &course.sections {
        for m in &section.meetings {
            let (cur, next) = around(&mut zones, &m.when, &schedule.holidays, at);
            let session = |(start, end): (Timestamp, Timestamp)| Session {
                section: section.id.clone(),
                kind: section.kind,
                meeting: m.id.clone(),
                start,
                end,
                room: m.room.clone(),
                location: m.location.clone(),
                instructors: m.instructors.clone(),
            };
            if let Some(c) = cur {
                earliest(c.1, &mut change);
                live.now.push(session(c));
            }
            if let Some(n) = next {
                earliest(n.0, &mut change);
                earliest(n.0, &mut next_start);
                upcoming.push(session(n));
            }
        }
    }
    live.next = upcoming
        .into_iter()
        .filter(|s| Some(s.start) == next_start)
        .collect();
    let mut upcoming_duty: Vec<Duty> = Vec::new();
    for b in &course.office_hours {
        let (cur, next) = around(&mut zones, &b.when, &schedule.holidays, at);
        let duty = |(start, end): (Timestamp, Timestamp)| Duty {
            block: b.id.clone(),
            ta: b.ta.clone(),
            start,
            end,
            room: b.room.clone(),
            location: b.location.clone(),
        };
        if let Some(c) = cur {
            earliest(c.1, &mut change);
            live.on_duty.push(duty(c));
        }
        if let Some(n) = next {
            earliest(n.0, &mut change);
            earliest(n.0, &mut next_duty_start);
            upcoming_duty.push(duty(n));
        }
    }
    live.next_duty = upcoming_duty
        .into_iter()
        .filter(|d| Some(d.start) == next_duty_start)
        .collect();
    let order = |a: &Session, b: &Session| {
        (a.start, &a.section, &a.meeting).cmp(&(b.start, &b.section, &b.meeting))
    };
    live.now.sort_by(order);
    live.next.sort_by(order);
    live.on_duty
        .sort_by(|a, b| (a.start, &a.ta, &a.block).cmp(&(b.start, &b.ta, &b.block)));
    live.next_duty
        .sort_by(|a, b| (&a.ta, &a.block).cmp(&(&b.ta, &b.block)));
    live.next_change = change;
    live
}

/// The TAs on duty in `live`, sorted, without repeats (a TA with two overlapping or adjacent
/// blocks is on duty once).
pub fn tas_on_duty(live: &Live) -> Vec<String> {
    let mut tas: Vec<String> = live.on_duty.iter().map(|d| d.ta.clone()).collect();
    tas.sort();
    tas.dedup();
    tas
}
