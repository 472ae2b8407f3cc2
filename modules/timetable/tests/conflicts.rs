//! Conflict detection on crafted timetables: one of each kind, reported once per pair with
//! how often and from when; a clean timetable has none; and iCalendar imports are checked too.

mod common;

use classpulse_timetable::conflicts::{ConflictKind, check};
use classpulse_timetable::model::Slot;
use classpulse_timetable::toml_file::parse;
use common::{ZONE, fixture};
use jiff::civil::date;

fn meeting(course: &str, section: &str, meeting: &str) -> Slot {
    Slot::Meeting {
        course: course.into(),
        section: section.into(),
        meeting: meeting.into(),
    }
}

#[test]
fn one_conflict_of_each_kind() {
    let t = parse(&fixture("conflicts.toml"), ZONE).unwrap();
    let found = check(&t);
    let kinds: Vec<(ConflictKind, Option<&str>)> = found
        .iter()
        .map(|c| (c.kind, c.resource.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ConflictKind::PersonDoubleBooked, Some("prof")),
            (ConflictKind::RoomDoubleBooked, Some("R1")),
            (ConflictKind::OutsideTerm, Some("sp27")),
            (ConflictKind::OfficeHoursOverlapClass, Some("ta")),
            (ConflictKind::PersonUnavailable, Some("prof")),
            (ConflictKind::PersonUnavailable, Some("prof")),
            (ConflictKind::PersonUnavailable, Some("prof")),
            (ConflictKind::RoomTooSmall, Some("R2")),
        ],
        "{found:#?}"
    );

    // Wednesdays of the term: Jan 13 .. May 5 = 17 dates; A meets MWF 10:00-10:50, B W 10:30.
    let prof = &found[0];
    assert_eq!(prof.a, meeting("A", "L", "m1"));
    assert_eq!(prof.b, Some(meeting("B", "L", "m1")));
    assert_eq!(prof.occurrences, 17);
    assert_eq!(prof.first_date, Some(date(2027, 1, 13)));
    assert!(
        prof.message.contains("prof is in two places at once"),
        "{}",
        prof.message
    );
    assert_eq!(found[1].occurrences, 17);

    // B's late meeting: Thursdays Apr 29 .. May 20; May 13 and May 20 are after the term.
    let outside = &found[2];
    assert_eq!(outside.a, meeting("B", "L", "late"));
    assert_eq!(outside.occurrences, 2);
    assert_eq!(outside.first_date, Some(date(2027, 5, 13)));

    // Office hours first, then the lab the TA teaches: every Tuesday of the term (17).
    let oh = &found[3];
    assert!(matches!(&oh.a, Slot::OfficeHours { ta, .. } if ta == "ta"));
    assert_eq!(oh.b, Some(meeting("A", "LAB", "m1")));
    assert_eq!(oh.occurrences, 17);

    // Unavailable: A's lecture during prof's week away (3 dates: M W F), B's Wednesday that
    // week, and B's late meeting in the evening (4 Thursdays).
    let away = found
        .iter()
        .find(|c| c.kind == ConflictKind::PersonUnavailable && c.a == meeting("A", "L", "m1"))
        .unwrap();
    assert_eq!(away.occurrences, 3);
    assert_eq!(away.first_date, Some(date(2027, 3, 15)));
    let b_away = found
        .iter()
        .find(|c| c.kind == ConflictKind::PersonUnavailable && c.a == meeting("B", "L", "m1"))
        .unwrap();
    assert_eq!(b_away.occurrences, 1);
    let evening = found
        .iter()
        .find(|c| c.kind == ConflictKind::PersonUnavailable && c.a == meeting("B", "L", "late"))
        .unwrap();
    assert_eq!(evening.occurrences, 4);

    assert!(
        found[7].message.contains("seats 10"),
        "{}",
        found[7].message
    );
    assert!(found.iter().all(|c| !c.message.is_empty()));
    assert!(found[0].involves("A") && found[0].involves("B") && !found[7].involves("B"));
}

#[test]
fn holidays_and_exceptions_are_not_conflicts() {
    // Two courses in one room at the same time, but one only meets on a holiday (which
    // cancels it) and the other skips that date: nothing collides.
    let text = r#"
[[terms]]
id = "t"
start = 2026-09-01
end = 2026-09-30
holidays = [{ date = 2026-09-07 }]

[[rooms]]
id = "R"

[[courses]]
id = "A"
term = "t"
[[courses.sections]]
id = "L"
[[courses.sections.meetings]]
days = "M"
start = "09:00"
end = "10:00"
room = "R"
from = 2026-09-07
until = 2026-09-07

[[courses]]
id = "B"
term = "t"
[[courses.sections]]
id = "L"
[[courses.sections.meetings]]
days = "M"
start = "09:30"
end = "10:30"
room = "R"
except = [2026-09-14]
from = 2026-09-14
until = 2026-09-14
"#;
    let t = parse(text, ZONE).unwrap();
    assert!(check(&t).is_empty(), "{:#?}", check(&t));
}

#[test]
fn back_to_back_is_not_a_conflict_but_a_minute_of_overlap_is() {
    let make = |b_start: &str| {
        format!(
            "[[rooms]]\nid = \"R\"\n[[courses]]\nid = \"A\"\n[[courses.sections]]\nid = \"L\"\n[[courses.sections.meetings]]\ndays = \"T\"\nstart = \"09:00\"\nend = \"10:00\"\nroom = \"R\"\nfrom = 2026-09-01\nuntil = 2026-09-29\n[[courses]]\nid = \"B\"\n[[courses.sections]]\nid = \"L\"\n[[courses.sections.meetings]]\ndays = \"T\"\nstart = \"{b_start}\"\nend = \"11:00\"\nroom = \"R\"\nfrom = 2026-09-01\nuntil = 2026-09-29\n"
        )
    };
    assert!(check(&parse(&make("10:00"), ZONE).unwrap()).is_empty());
    let c = check(&parse(&make("09:59"), ZONE).unwrap());
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].kind, ConflictKind::RoomDoubleBooked);
    assert_eq!(c[0].occurrences, 5);
}
