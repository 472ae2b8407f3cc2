//! The timetable's events through its reducers, offline: an import's events rebuild the
//! timetable; meeting, office-hour and availability edits apply to the catalog and the course;
//! removing a course mid-block takes its TA off duty; events from clients are ignored; and
//! the diff re-sends exactly the courses a change touches.

mod common;

use classpulse_core::event::envelope::EnvelopeBody;
use classpulse_core::event::{Auth, Event, Security, Timestamp};
use classpulse_core::log::system::SystemEvent;
use classpulse_core::reducer::{Effect, Outcome, Reducer};
use classpulse_timetable::conflicts::{ConflictKind, check};
use classpulse_timetable::events::{self, diff};
use classpulse_timetable::import::{Format, plan};
use classpulse_timetable::model::{Availability, DutyMode, SectionKind, Timetable, Window};
use classpulse_timetable::recur::Days;
use classpulse_timetable::reducers::{CatalogReducer, CourseReducer, CourseState};
use classpulse_timetable::toml_file::parse;
use common::{ZONE, fixture, ny};
use serde_json::json;
use std::borrow::Cow;
use std::collections::HashMap;

struct Offline {
    catalog: Timetable,
    courses: HashMap<String, CourseState>,
    seq: u64,
}

impl Offline {
    fn new() -> Self {
        Offline {
            catalog: Timetable::default(),
            courses: HashMap::new(),
            seq: 0,
        }
    }

    /// Reduces one event sent at `at` by `auth`; returns the course reducer's outcome.
    fn send(&mut self, e: &SystemEvent, at: Timestamp, auth: &Auth<'_>) -> Option<Outcome> {
        self.seq += 1;
        let text = EnvelopeBody {
            node: "t",
            conn: 0,
            ip: "",
            agent: "",
            auth,
            source: &e.source,
            timer: None,
        }
        .line(self.seq, at, &e.client.to_string());
        let event = Event::from_line(&text).unwrap();
        let catalog = CatalogReducer.reduce(&mut self.catalog, &event);
        assert_eq!(catalog.error_reason(), None);
        let id = event.str_field("course_id")?.into_owned();
        let outcome = CourseReducer.reduce(self.courses.entry(id).or_default(), &event);
        assert_eq!(outcome.error_reason(), None);
        Some(outcome)
    }

    fn system(&mut self, e: &SystemEvent, at: Timestamp) -> Option<Outcome> {
        self.send(e, at, &Auth::system())
    }
}

fn university() -> Timetable {
    parse(&fixture("university.toml"), ZONE).unwrap()
}

fn timers(o: &Outcome) -> Vec<serde_json::Value> {
    o.effects()
        .iter()
        .filter_map(|e| match e {
            Effect::Timer(t) => Some(t.event.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_imports_events_rebuild_the_timetable_and_edits_apply() {
    let t = university();
    let mut off = Offline::new();
    let at = ny(2026, 9, 14, 7, 0);
    for e in diff(&Timetable::default(), &t, DutyMode::Automatic) {
        off.system(&e, at);
    }
    assert_eq!(off.catalog, t);
    assert_eq!(off.courses["CS101"].live.next[0].section, "L1");

    // Move the lecture to 10:00 in SCI-201: the discussion is there then, with Grace.
    let mut m = t.courses["CS101"].sections[0].meetings[0].clone();
    m.when.start = jiff::civil::time(10, 0, 0, 0);
    m.when.end = jiff::civil::time(10, 50, 0, 0);
    m.room = Some("SCI-201".into());
    off.system(
        &events::meeting_changed("CS101", "L1", SectionKind::Lecture, &m),
        at,
    );
    let course = &off.courses["CS101"];
    assert_eq!(
        course.live.next.len(),
        2,
        "L1 and D1 both start at 10:00 now"
    );
    assert_eq!(course.live.next[0].start, ny(2026, 9, 14, 10, 0));
    let found = check(&off.catalog);
    assert!(
        found
            .iter()
            .any(|c| c.kind == ConflictKind::RoomDoubleBooked),
        "{found:#?}"
    );

    // Ada only available 11:00-12:00 from now on.
    let avail = Availability {
        weekly: vec![Window {
            days: Days::parse("MTWRF").unwrap(),
            start: jiff::civil::time(11, 0, 0, 0),
            end: jiff::civil::time(12, 0, 0, 0),
        }],
        away: vec![],
    };
    assert_eq!(
        off.system(&events::availability_changed("ada", &avail), at),
        None,
        "not a course event"
    );
    assert_eq!(off.catalog.people["ada"].availability, avail);
    assert!(
        check(&off.catalog)
            .iter()
            .any(|c| c.kind == ConflictKind::PersonUnavailable
                && c.resource.as_deref() == Some("ada"))
    );

    // Remove the meeting and one office-hour block.
    let removed = SystemEvent {
        source: events::SOURCE.into(),
        client: json!({"event": "timetable.meeting.removed", "course_id": "CS101", "section_id": "L1", "meeting_id": "m1"}),
    };
    off.system(&removed, at);
    assert!(off.catalog.courses["CS101"].sections[0].meetings.is_empty());
    let removed = SystemEvent {
        source: events::SOURCE.into(),
        client: json!({"event": "timetable.office_hours.removed", "course_id": "CS101", "block_id": "alan-mon"}),
    };
    off.system(&removed, at);
    assert_eq!(
        off.courses["CS101"]
            .schedule
            .as_ref()
            .unwrap()
            .course
            .office_hours
            .len(),
        1
    );
    assert_eq!(off.catalog.courses["CS101"].office_hours.len(), 1);
}

#[test]
fn removing_a_course_mid_block_takes_its_ta_off_duty() {
    let t = university();
    let mut off = Offline::new();
    let at = ny(2026, 9, 14, 13, 30); // Grace's block is on
    let mut out = Vec::new();
    for e in diff(&Timetable::default(), &t, DutyMode::Automatic) {
        if let Some(o) = off.system(&e, at) {
            out.extend(timers(&o));
        }
    }
    let on: Vec<_> = out.iter().filter(|e| e["event"] == "ta_on_duty").collect();
    assert_eq!(
        on.len(),
        1,
        "a block in progress when imported starts at once: {out:?}"
    );
    assert_eq!(on[0]["ta"], "grace");
    assert_eq!(on[0]["source"], "org.classpulse.office_hours");
    let remove = SystemEvent {
        source: events::SOURCE.into(),
        client: json!({"event": "timetable.course.removed", "course_id": "CS101"}),
    };
    let o = off.system(&remove, ny(2026, 9, 14, 13, 45)).unwrap();
    let off_events = timers(&o);
    assert_eq!(off_events.len(), 1);
    assert_eq!(off_events[0]["event"], "ta_off_duty");
    assert_eq!(off_events[0]["ta"], "grace");
    assert!(
        o.effects()
            .iter()
            .any(|e| matches!(e, Effect::CancelTimer { .. })),
        "its tick is cancelled"
    );
    assert!(!off.catalog.courses.contains_key("CS101"));
}

#[test]
fn timetable_events_from_clients_are_ignored() {
    let t = university();
    let mut off = Offline::new();
    let student = Auth {
        providence: Cow::Borrowed("tc"),
        safe_user_id: Cow::Borrowed("tc-testcase-mallory"),
        sec: Security::Authenticated,
        user_id: Cow::Borrowed("mallory"),
    };
    for e in diff(&Timetable::default(), &t, DutyMode::Automatic) {
        if let Some(o) = off.send(&e, ny(2026, 9, 14, 7, 0), &student) {
            assert!(!o.is_changed());
        }
    }
    assert_eq!(off.catalog, Timetable::default());
    assert!(off.courses.values().all(|c| c.schedule.is_none()));
}

#[test]
fn the_diff_sends_what_changed_and_nothing_else() {
    let t = university();
    assert!(diff(&t, &t, DutyMode::Automatic).is_empty());
    let mut holiday = t.clone();
    holiday.terms.get_mut("fa26").unwrap().holidays[0]
        .dates
        .until = jiff::civil::date(2026, 9, 8);
    let kinds: Vec<String> = diff(&t, &holiday, DutyMode::Automatic)
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e.client["event"].as_str().unwrap(),
                e.client["course_id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "timetable.term.changed ",
            "timetable.course.changed CS101",
            "timetable.course.changed MATH200"
        ]
    );
    let mut availability = t.clone();
    availability
        .people
        .get_mut("grace")
        .unwrap()
        .availability
        .away
        .push(classpulse_timetable::recur::DateRange {
            from: jiff::civil::date(2026, 10, 1),
            until: jiff::civil::date(2026, 10, 2),
        });
    let d = diff(&t, &availability, DutyMode::Automatic);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].client["event"], "person.availability.changed");
    let mut fewer = t.clone();
    fewer.courses.remove("MATH200");
    fewer.people.remove("edsger");
    let d: Vec<String> = diff(&t, &fewer, DutyMode::Automatic)
        .iter()
        .map(|e| e.client["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        d,
        ["timetable.course.removed", "person.removed"],
        "courses go before the people they use"
    );
    // The configured default mode is resolved into each course at import: changing it
    // re-sends the courses without a mode of their own, and only those.
    let text = fixture("university.toml");
    let path = std::path::Path::new("university.toml");
    let automatic = common::config();
    let reminder = classpulse_timetable::TimetableConfig {
        office_hours_mode: DutyMode::Reminder,
        ..common::config()
    };
    let first = plan(
        &Timetable::default(),
        &text,
        Format::Toml,
        None,
        &automatic,
        path,
    )
    .unwrap();
    assert!(
        plan(
            &first.timetable,
            &text,
            Format::Toml,
            None,
            &automatic,
            path
        )
        .unwrap()
        .events
        .is_empty()
    );
    let changed = plan(&first.timetable, &text, Format::Toml, None, &reminder, path).unwrap();
    let courses: Vec<&str> = changed
        .events
        .iter()
        .filter_map(|e| e.client["course_id"].as_str())
        .collect();
    assert_eq!(courses, ["CS101"]);
    assert_eq!(
        changed.events[0].client["schedule"]["office_hours_mode"],
        "reminder"
    );
}
