//! Fuzzing (property-based) the iCalendar reader, and the import a running server performs on
//! an uploaded file: calendars assembled from realistic and hostile content lines (recurrence
//! rules of every kind, time zones that do not exist, durations, folded lines, garbage), and
//! the fixtures damaged line by line.
//!
//! - `ical::parse`, `ical::import` and the whole import plan (`import::plan`: the iCalendar
//!   read, the merge into the timetable, the conflict check over the term) never panic, and
//!   each case finishes within seconds — a hostile rule cannot make the server expand forever;
//! - what we write (`write_calendar`) reads back event for event, text included;
//! - `unescape(escape(s)) == s` for any text.
//!
//! `CLASSPULSE_FUZZ_CASES` sets the number of cases (default 128).

mod common;

use classpulse_core::event::Timestamp;
use classpulse_timetable::ical::{self, OutEvent};
use classpulse_timetable::import::{Format, plan};
use classpulse_timetable::toml_file;
use common::{ZONE, config, fixture};
use proptest::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn cases() -> u32 {
    std::env::var("CLASSPULSE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// The longest one case may take (debug build, shared machine).
const CASE_BUDGET: Duration = Duration::from_secs(5);

fn datetime() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (2020u32..2032, 1u32..13, 1u32..29, 0u32..24, 0u32..60, any::<bool>()).prop_map(
            |(y, mo, d, h, mi, z)| format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}00{}", if z { "Z" } else { "" })
        ),
        2 => (2020u32..2032, 1u32..13, 1u32..29).prop_map(|(y, mo, d)| format!("{y:04}{mo:02}{d:02}")),
        1 => prop_oneof![
            Just("00000000T000000".to_owned()),
            Just("99991231T235959Z".to_owned()),
            Just("20260230T250000".to_owned()),
            Just("2026-09-14T09:00:00".to_owned()),
            Just(String::new()),
            Just("19000101".to_owned()),
        ],
    ]
}

fn rrule() -> impl Strategy<Value = String> {
    let freq = prop::sample::select(vec![
        "DAILY",
        "WEEKLY",
        "MONTHLY",
        "YEARLY",
        "HOURLY",
        "SECONDLY",
        "FORTNIGHTLY",
        "",
    ]);
    let part = prop_oneof![
        (1u32..400).prop_map(|n| format!("COUNT={n}")),
        prop_oneof![Just(0u64), Just(u32::MAX as u64), Just(u64::MAX)]
            .prop_map(|n| format!("COUNT={n}")),
        (0u32..30).prop_map(|n| format!("INTERVAL={n}")),
        datetime().prop_map(|d| format!("UNTIL={d}")),
        prop::sample::select(vec![
            "MO", "TU,TH", "MO,WE,FR", "1MO", "-1FR", "XX", "SA,SU", ""
        ])
        .prop_map(|d| format!("BYDAY={d}")),
        (-40i32..40).prop_map(|n| format!("BYMONTHDAY={n}")),
        (0u32..14).prop_map(|n| format!("BYMONTH={n}")),
        Just("WKST=SU".to_owned()),
        Just("BYSETPOS=-1".to_owned()),
        "[A-Z=;,0-9]{0,10}",
    ];
    (freq, prop::collection::vec(part, 0..4)).prop_map(|(f, parts)| {
        let mut s = format!("RRULE:FREQ={f}");
        for p in parts {
            s.push(';');
            s.push_str(&p);
        }
        s
    })
}

fn tzid() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        ";TZID=America/New_York",
        ";TZID=Europe/Paris",
        ";TZID=Nowhere/Atlantis",
        ";VALUE=DATE",
        ";TZID=\"America/New_York\"",
        ";TZID=",
    ])
    .prop_map(str::to_owned)
}

fn property() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (tzid(), datetime()).prop_map(|(t, d)| format!("DTSTART{t}:{d}")),
        3 => (tzid(), datetime()).prop_map(|(t, d)| format!("DTEND{t}:{d}")),
        3 => rrule(),
        1 => prop::sample::select(vec!["PT1H", "PT50M", "P1D", "-PT5M", "P1W", "PT", "P", "PT999999H", "1H"])
            .prop_map(|d| format!("DURATION:{d}")),
        1 => (tzid(), prop::collection::vec(datetime(), 1..3)).prop_map(|(t, ds)| format!("EXDATE{t}:{}", ds.join(","))),
        1 => (tzid(), datetime()).prop_map(|(t, d)| format!("RDATE{t}:{d}")),
        1 => (tzid(), datetime()).prop_map(|(t, d)| format!("RECURRENCE-ID{t}:{d}")),
        1 => "(\\PC|[\\\\;,]){0,30}".prop_map(|s| format!("SUMMARY:{s}")),
        1 => prop::sample::select(vec!["Science 101", "SCI-101", "LAB-1", "https://meet.example", ""]).prop_map(|l| format!("LOCATION:{l}")),
        1 => prop::sample::select(vec!["mailto:ada@example.edu", "mailto:", "ada"]).prop_map(|m| format!("ORGANIZER;CN=Ada Lovelace:{m}")),
        1 => Just("ATTENDEE;CN=Grace Hopper;ROLE=REQ-PARTICIPANT:mailto:grace@example.edu".to_owned()),
        1 => prop::sample::select(vec!["grace", "nobody", ""]).prop_map(|t| format!("X-CLASSPULSE-TA:{t}")),
        1 => prop::sample::select(vec!["Lecture", "Office Hours", "Lab", ""]).prop_map(|c| format!("CATEGORIES:{c}")),
        1 => "[a-z0-9@.-]{0,12}".prop_map(|u| format!("UID:{u}")),
        1 => Just("STATUS:CANCELLED".to_owned()),
        1 => "(\\PC){0,40}",
    ]
}

fn event() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(property(), 0..10).prop_map(|props| {
        let mut lines = vec!["BEGIN:VEVENT".to_owned()];
        lines.extend(props);
        lines.push("END:VEVENT".to_owned());
        lines
    })
}

/// An event the importer takes (a weekly session or office hours in the term), with a few
/// properties of any kind added.
fn valid_event() -> impl Strategy<Value = Vec<String>> {
    (
        (0u32..100, 7u32..20, 0u32..4, 1u32..180),
        prop::sample::select(vec!["MO", "TU,TH", "MO,WE,FR", "SA", "MO,TU,WE,TH,FR"]),
        prop_oneof![
            (1u32..60).prop_map(|n| format!(";COUNT={n}")),
            Just(";UNTIL=20261218T235959Z".to_owned()),
            Just(String::new()),
            (1u32..4).prop_map(|n| format!(";INTERVAL={n}")),
        ],
        prop::sample::select(vec!["CS 101 Lecture", "Office Hours", "Lab", ""]),
        prop::collection::vec(property(), 0..3),
    )
        .prop_map(
            |((day, hour, quarter, minutes), byday, extra, summary, more)| {
                let date = jiff::civil::date(2026, 8, 31) + jiff::Span::new().days(day as i64);
                let start = jiff::civil::DateTime::from_parts(
                    date,
                    jiff::civil::time(hour as i8, (quarter * 15) as i8, 0, 0),
                );
                let end = start.saturating_add(
                    jiff::Span::new().minutes(minutes.min(60 * (23 - hour as i64) as u32) as i64),
                );
                let fmt = |d: jiff::civil::DateTime| d.strftime("%Y%m%dT%H%M%S").to_string();
                let mut lines = vec![
                    "BEGIN:VEVENT".to_owned(),
                    format!("UID:{day}-{hour}@fuzz"),
                    format!("SUMMARY:{summary}"),
                    format!("DTSTART;TZID=America/New_York:{}", fmt(start)),
                    format!("DTEND;TZID=America/New_York:{}", fmt(end)),
                    format!("RRULE:FREQ=WEEKLY;BYDAY={byday}{extra}"),
                    "LOCATION:Science 101".to_owned(),
                    "X-CLASSPULSE-TA:grace".to_owned(),
                ];
                lines.extend(more);
                lines.push("END:VEVENT".to_owned());
                lines
            },
        )
}

fn calendar() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof![3 => valid_event(), 1 => event()], 0..5),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<usize>()),
    )
        .prop_map(|(events, crlf, close, fold)| {
            let mut lines = vec!["BEGIN:VCALENDAR".to_owned(), "VERSION:2.0".to_owned()];
            lines.extend(events.into_iter().flatten());
            if close {
                lines.push("END:VCALENDAR".to_owned());
            }
            // Fold one line somewhere, as calendar writers do past 75 octets.
            if let Some(at) = fold {
                let i = at % lines.len();
                let line = lines[i].clone();
                let mut cut = (at / 7) % (line.len() + 1);
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines[i] = format!(
                    "{}{}{}",
                    &line[..cut],
                    if crlf { "\r\n " } else { "\n\t" },
                    &line[cut..]
                );
            }
            lines.join(if crlf { "\r\n" } else { "\n" })
        })
}

fn damaged(text: &str, edits: &[(prop::sample::Index, u8, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (at, kind, insert) in edits {
        if lines.is_empty() {
            break;
        }
        let i = at.index(lines.len());
        match kind % 4 {
            0 => {
                lines.remove(i);
            }
            1 => lines.insert(i, lines[i].clone()),
            2 => {
                let mut cut = lines[i].len() / 2;
                while !lines[i].is_char_boundary(cut) {
                    cut -= 1;
                }
                lines[i].truncate(cut);
            }
            _ => lines.insert(i, insert.clone()),
        }
    }
    lines.join("\r\n")
}

/// Reads `text` every way the server does; none may panic or take long.
fn read_every_way(text: &str) {
    let started = Instant::now();
    let _ = ical::parse(text);
    let timetable = toml_file::parse(&fixture("university.toml"), ZONE).unwrap();
    let _ = ical::import(text, "CS101", &timetable);
    let _ = plan(
        &timetable,
        text,
        Format::Ics,
        Some("CS101"),
        &config(),
        Path::new("upload.ics"),
    );
    assert!(
        started.elapsed() < CASE_BUDGET,
        "took {:?} on:\n{text}",
        started.elapsed()
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_calendar_is_read_or_refused(text in calendar()) {
        read_every_way(&text);
    }

    #[test]
    fn damaged_fixtures_are_read_or_refused(
        which in 0usize..2,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), property()), 1..6),
    ) {
        let name = ["cs101.ics", "dst_week.ics"][which];
        read_every_way(&damaged(&fixture(name), &edits));
    }

    #[test]
    fn any_text_is_read_or_refused(text in "(\\PC|[\r\n:;,\\\\ ])*") {
        read_every_way(&text);
    }

    #[test]
    fn what_we_write_reads_back(
        events in prop::collection::vec(("(\\PC|[\\\\;,\n]){0,90}", 0i64..2_000_000_000, 1i64..100_000, prop::option::of("(\\PC|[;,]){0,20}")), 0..4),
        name in "(\\PC){0,20}",
    ) {
        let out: Vec<OutEvent> = events
            .iter()
            .enumerate()
            .map(|(i, (summary, start, len, location))| OutEvent {
                uid: format!("e{i}@fuzz"),
                summary: summary.clone(),
                start: Timestamp::from_micros(start * 1_000_000),
                end: Timestamp::from_micros((start + len) * 1_000_000),
                location: location.clone(),
                description: None,
            })
            .collect();
        let text = ical::write_calendar(&name, &out, Timestamp::from_micros(0));
        let top = ical::parse(&text).expect("what we write parses");
        let mut found = Vec::new();
        for c in &top {
            c.find_all("VEVENT", &mut found);
        }
        prop_assert_eq!(found.len(), out.len());
        for (component, event) in found.iter().zip(&out) {
            let summary = component.prop("SUMMARY").map(|p| ical::unescape(&p.value)).unwrap_or_default();
            prop_assert_eq!(summary, event.summary.replace("\r\n", "\n").replace('\r', "\n"));
        }
    }

    #[test]
    fn escaping_round_trips(s in "(\\PC|[\\\\;,\n])*") {
        prop_assert_eq!(ical::unescape(&ical::escape(&s)), s);
    }
}

/// The generator is only worth its cases if many calendars get past the reader into the
/// import proper (sessions and office hours made, the plan built).
#[test]
fn the_generator_reaches_the_importer() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let timetable = toml_file::parse(&fixture("university.toml"), ZONE).unwrap();
    let mut imported = 0;
    for _ in 0..100 {
        let text = calendar().new_tree(&mut runner).unwrap().current();
        if let Ok(import) = ical::import(&text, "CS101", &timetable)
            && import
                .sections
                .iter()
                .map(|s| s.meetings.len())
                .sum::<usize>()
                + import.office_hours.len()
                > 0
        {
            imported += 1;
        }
    }
    assert!(
        imported >= 10,
        "only {imported} of 100 calendars imported anything"
    );
}
