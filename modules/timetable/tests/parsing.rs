//! Parsing: the TOML timetable file (errors name the line and the key) and iCalendar files
//! with RRULE, EXDATE, RECURRENCE-ID and time zones, including a daylight-saving week.

mod common;

use classpulse_timetable::ical;
use classpulse_timetable::model::{SectionKind, Timetable};
use classpulse_timetable::recur::{Occurrence, Zones};
use classpulse_timetable::toml_file::{ParseError, parse};
use common::{ZONE, fixture, ny};
use jiff::civil::{Date, date};

fn err(text: &str) -> ParseError {
    parse(text, ZONE).expect_err("should not parse")
}

const HEAD: &str = "[[terms]]\nid = \"t\"\nstart = 2026-09-01\nend = 2026-12-01\n\n[[rooms]]\nid = \"R1\"\n\n[[people]]\nid = \"p\"\n\n[[courses]]\nid = \"C\"\nterm = \"t\"\n\n[[courses.sections]]\nid = \"L\"\n\n[[courses.sections.meetings]]\n";

#[test]
fn the_fixture_parses_into_the_model() {
    let t = parse(&fixture("university.toml"), ZONE).unwrap();
    assert_eq!(t.time_zone, ZONE);
    assert_eq!(t.counts(), (4, 4, 3));
    let cs = &t.courses["CS101"];
    assert_eq!(cs.sections[1].kind, SectionKind::Discussion);
    let lab = &cs.sections[2].meetings[0];
    assert_eq!(lab.id, "lab");
    assert!(lab.when.except.contains(&date(2026, 10, 13)));
    assert_eq!(lab.when.from, date(2026, 8, 31), "defaults to the term");
    assert_eq!(t.terms["fa26"].holidays.len(), 2);
    assert_eq!(
        cs.sections[1].meetings[0].when.start,
        jiff::civil::time(10, 0, 0, 0)
    );
    assert_eq!(t.courses["MATH200"].office_hours[0].id, "oh1");
    assert!(
        classpulse_timetable::conflicts::check(&t).is_empty(),
        "{:#?}",
        classpulse_timetable::conflicts::check(&t)
    );
}

#[test]
fn syntax_errors_name_the_line_and_the_key() {
    let e = err("[[rooms]]\nid = \"R1\"\ncapacity = \n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.key.contains("capacity") || e.key.contains("rooms"), "{e}");
}

#[test]
fn wrong_types_and_unknown_keys_name_the_line_and_the_key() {
    let e = err("[[rooms]]\nid = \"R1\"\ncapacity = \"many\"\n");
    assert_eq!((e.line, e.key.as_str()), (3, "rooms.capacity"), "{e}");
    let e = err(&format!(
        "{HEAD}days = \"MWF\"\nstart = \"09:00\"\nend = \"09:50\"\nrom = \"R1\"\n"
    ));
    assert_eq!(e.line, 23, "{e}");
    assert_eq!(e.key, "courses.sections.meetings.rom", "{e}");
    assert!(e.message.contains("rom"), "{e}");
    let e = err(&format!(
        "{HEAD}days = \"MXF\"\nstart = \"09:00\"\nend = \"09:50\"\n"
    ));
    assert_eq!(
        (e.line, e.key.as_str()),
        (20, "courses.sections.meetings.days"),
        "{e}"
    );
    let e = err(&format!(
        "{HEAD}days = \"MWF\"\nstart = \"9 o'clock\"\nend = \"09:50\"\n"
    ));
    assert_eq!(
        (e.line, e.key.as_str()),
        (21, "courses.sections.meetings.start"),
        "{e}"
    );
    let e = err(
        "[[terms]]\nid = \"t\"\nstart = 2026-09-01\nend = 2026-12-01\nholidays = [{ name = \"x\", date = \"someday\" }]\n",
    );
    assert_eq!((e.line, e.key.as_str()), (5, "terms.holidays.date"), "{e}");
    let e = err("[[terms]]\nid = \"t\"\nstart = 2026-09-01\n");
    assert_eq!(e.key, "terms.end", "{e}");
}

#[test]
fn inconsistent_values_name_the_line_and_the_key() {
    let e = err(&format!(
        "{HEAD}days = \"MWF\"\nstart = \"09:00\"\nend = \"09:50\"\nroom = \"R9\"\n"
    ));
    assert_eq!(
        (e.line, e.key.as_str()),
        (23, "courses[C].sections[L].meetings[0].room"),
        "{e}"
    );
    assert!(e.message.contains("R9"));
    let e = err(&format!(
        "{HEAD}days = \"MWF\"\nstart = \"10:00\"\nend = \"09:50\"\n"
    ));
    assert_eq!(
        (e.line, e.key.as_str()),
        (22, "courses[C].sections[L].meetings[0].end"),
        "{e}"
    );
    let e = err(&format!(
        "{HEAD}days = \"MWF\"\nstart = \"09:00\"\nend = \"09:50\"\ninstructors = [\"p\", \"q\"]\n"
    ));
    assert_eq!(
        (e.line, e.key.as_str()),
        (23, "courses[C].sections[L].meetings[0].instructors[1]"),
        "{e}"
    );
    let e = err("[[rooms]]\nid = \"R1\"\n\n[[rooms]]\nid = \"R1\"\n");
    assert_eq!((e.line, e.key.as_str()), (5, "rooms[1].id"), "{e}");
    let e = err("[[courses]]\nid = \"C\"\nterm = \"nope\"\n");
    assert_eq!((e.line, e.key.as_str()), (3, "courses[C].term"), "{e}");
    let e = err(&format!(
        "{HEAD}days = \"MWF\"\nstart = \"09:00\"\nend = \"09:50\"\ntime_zone = \"Mars/Base\"\n"
    ));
    assert_eq!(
        (e.line, e.key.as_str()),
        (23, "courses[C].sections[L].meetings[0].time_zone"),
        "{e}"
    );
    // The Display form carries both.
    assert!(e.to_string().starts_with("line 23, column"), "{e}");
}

fn catalog() -> Timetable {
    parse(&fixture("university.toml"), ZONE).unwrap()
}

#[test]
fn icalendar_rrule_exdate_overrides_and_zones() {
    let t = catalog();
    let imported = ical::import(&fixture("cs101.ics"), "CS101", &t).unwrap();
    let warnings = imported.warnings.join("\n");
    assert!(warnings.contains("FREQ=MONTHLY"), "{warnings}");
    assert!(warnings.contains("cancelled"), "{warnings}");
    assert!(warnings.contains("repeats forever"), "{warnings}");

    let lecture = imported
        .sections
        .iter()
        .find(|s| s.id == "cs-101-lecture")
        .unwrap();
    assert_eq!(lecture.kind, SectionKind::Lecture);
    let master = &lecture.meetings[0];
    assert_eq!(master.id, "cs101-lecture@example.edu");
    assert_eq!(
        master.room.as_deref(),
        Some("SCI-101"),
        "LOCATION matched the room's name"
    );
    assert_eq!(
        master.instructors,
        vec!["ada".to_string()],
        "ORGANIZER matched by e-mail"
    );
    assert_eq!(master.when.time_zone, None, "the institution's zone");
    let dates: Vec<Date> = master.when.dates(&[]).collect();
    assert_eq!(dates.first(), Some(&date(2026, 8, 31)));
    assert_eq!(dates.last(), Some(&date(2026, 12, 18)));
    for skipped in [
        date(2026, 9, 7),
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 10, 14),
    ] {
        assert!(!dates.contains(&skipped), "{skipped} is excluded");
    }
    assert_eq!(dates.len(), 16 * 3 - 4);
    let moved = &lecture.meetings[1];
    assert_eq!(
        moved.when.dates(&[]).collect::<Vec<_>>(),
        vec![date(2026, 10, 14)]
    );
    assert_eq!(moved.when.start, jiff::civil::time(13, 0, 0, 0));
    assert_eq!(moved.room.as_deref(), Some("SCI-201"));

    // UTC DTSTART (18:00Z = 14:00 EDT), every other Tuesday, 8 times, 1h50 by DURATION.
    let lab = imported
        .sections
        .iter()
        .find(|s| s.id == "cs-101-lab")
        .unwrap();
    assert_eq!(lab.kind, SectionKind::Lab);
    let m = &lab.meetings[0];
    assert_eq!(m.instructors, vec!["alan".to_string()]);
    assert_eq!(m.room.as_deref(), Some("LAB-1"));
    let mut zones = Zones::new(ZONE).unwrap();
    let occ: Vec<Occurrence> = zones.occurrences(&m.when, &[]).collect();
    assert_eq!(occ.len(), 8);
    assert_eq!(occ[0].start, ny(2026, 9, 1, 14, 0));
    assert_eq!(occ[1].date, date(2026, 9, 15));
    // After DST ends (Nov 1) the lab stays at 14:00 local.
    assert_eq!(occ[5].date, date(2026, 11, 10));
    assert_eq!(occ[5].start, ny(2026, 11, 10, 14, 0));
    assert_eq!(
        occ[5].end.as_micros() - occ[5].start.as_micros(),
        110 * 60 * 1_000_000
    );

    let oh = &imported.office_hours[0];
    assert_eq!(oh.ta, "grace");
    assert_eq!(oh.location.as_deref(), Some("Zoom"));
    assert_eq!(
        oh.when.until,
        date(2026, 12, 18),
        "open-ended rules end with the course's term"
    );

    let review = imported
        .sections
        .iter()
        .find(|s| s.id == "cs-101-review-session")
        .unwrap();
    assert_eq!(
        review.meetings[0].when.dates(&[]).count(),
        3,
        "DAILY;COUNT=3"
    );
}

#[test]
fn a_daylight_saving_week_keeps_wall_clock_times() {
    let t = Timetable {
        time_zone: ZONE.into(),
        ..Timetable::default()
    };
    let imported = ical::import(&fixture("dst_week.ics"), "X", &t).unwrap();
    let mut zones = Zones::new(ZONE).unwrap();
    let standup = &imported
        .sections
        .iter()
        .find(|s| s.id == "morning-standup")
        .unwrap()
        .meetings[0];
    let occ: Vec<Occurrence> = zones.occurrences(&standup.when, &[]).collect();
    let days: Vec<Date> = occ.iter().map(|o| o.date).collect();
    assert_eq!(
        days,
        vec![
            date(2026, 10, 29),
            date(2026, 10, 30),
            date(2026, 11, 1),
            date(2026, 11, 2),
            date(2026, 11, 3),
            date(2026, 11, 4)
        ],
        "UNTIL in UTC is inclusive; EXDATE as a DATE removes the 31st"
    );
    let hour = 3_600_000_000i64;
    for o in &occ {
        let utc_hour = o.start.as_micros().rem_euclid(24 * hour) / hour;
        let expected = if o.date < date(2026, 11, 1) { 13 } else { 14 };
        assert_eq!(
            utc_hour, expected,
            "09:00 New York on {} is {expected}:00 UTC",
            o.date
        );
        assert_eq!(o.end.as_micros() - o.start.as_micros(), 15 * 60 * 1_000_000);
    }
    // 02:30 does not exist on 2026-03-08 (spring forward): it moves to 03:30 EDT and keeps
    // its hour.
    let night = &imported
        .sections
        .iter()
        .find(|s| s.id == "night-lab")
        .unwrap()
        .meetings[0];
    let occ: Vec<Occurrence> = zones.occurrences(&night.when, &[]).collect();
    assert_eq!(occ.len(), 4);
    let gap_day = occ.iter().find(|o| o.date == date(2026, 3, 8)).unwrap();
    assert_eq!(gap_day.start, ny(2026, 3, 8, 3, 30));
    assert_eq!(gap_day.end.as_micros() - gap_day.start.as_micros(), hour);
    assert_eq!(occ[3].start, ny(2026, 3, 9, 2, 30));
}

#[test]
fn malformed_calendars_name_the_line() {
    let t = catalog();
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;TZID=Nowhere/City:20260901T090000\r\nDTEND:20260901T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let e = ical::import(text, "C", &t).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("Nowhere/City"));
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:2026-09-01\nEND:VEVENT\nEND:VCALENDAR\n";
    assert_eq!(ical::import(text, "C", &t).unwrap_err().line, 3);
}
