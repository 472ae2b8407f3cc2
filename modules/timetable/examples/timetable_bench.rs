//! Benchmark: a university-sized timetable — 2,000 sections, 300 rooms, 1,500 staff, one
//! term — generated as a TOML file, then loaded (parsed and validated), checked for
//! conflicts, turned into import events, and replayed through the reducers. The bar is
//! load + check < 1 s.
//!
//! `cargo run --release -p classpulse-timetable --example timetable_bench`

use classpulse_core::event::envelope::EnvelopeBody;
use classpulse_core::event::{Auth, Event, Timestamp};
use classpulse_core::reducer::Reducer;
use classpulse_timetable::conflicts::check;
use classpulse_timetable::events::diff;
use classpulse_timetable::model::{DutyMode, Timetable};
use classpulse_timetable::reducers::{CatalogReducer, CourseReducer, CourseState};
use classpulse_timetable::toml_file::parse;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

const SECTIONS: usize = 2_000;
const ROOMS: usize = 300;
const INSTRUCTORS: usize = 1_000;
const TAS: usize = 500;
const COURSES: usize = 700;

/// Resident memory of this process, in KiB (Linux), from /proc.
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The time patterns sections are spread over: MWF hourly 8:00–17:00, TR every 90 min.
fn pattern(i: usize) -> (&'static str, String, String) {
    if i < 10 {
        let h = 8 + i;
        ("MWF", format!("{h:02}:00"), format!("{h:02}:50"))
    } else {
        let start = 8 * 60 + (i - 10) * 90;
        let end = start + 75;
        (
            "TR",
            format!("{:02}:{:02}", start / 60, start % 60),
            format!("{:02}:{:02}", end / 60, end % 60),
        )
    }
}

fn generate() -> String {
    let mut t = String::with_capacity(2 << 20);
    t.push_str(
        "[[terms]]\nid = \"fa26\"\nname = \"Fall 2026\"\nstart = 2026-08-31\nend = 2026-12-18\n",
    );
    t.push_str("holidays = [{ name = \"Labor Day\", date = 2026-09-07 }, { name = \"Thanksgiving\", from = 2026-11-25, until = 2026-11-27 }]\n\n");
    for r in 0..ROOMS {
        let _ = writeln!(
            t,
            "[[rooms]]\nid = \"R{r:03}\"\nname = \"Room {r}\"\ncapacity = {}\n",
            30 + (r % 10) * 20
        );
    }
    for p in 0..INSTRUCTORS {
        let _ = writeln!(
            t,
            "[[people]]\nid = \"i{p:04}\"\nname = \"Instructor {p}\"\nrole = \"instructor\"\navailable = [{{ days = \"MTWRF\", start = \"07:30\", end = \"19:00\" }}]\n"
        );
    }
    for p in 0..TAS {
        let _ = writeln!(
            t,
            "[[people]]\nid = \"t{p:04}\"\nname = \"TA {p}\"\nrole = \"ta\"\n"
        );
    }
    // Sections are dealt round-robin over courses; section i meets in room i % ROOMS at
    // pattern i / ROOMS, taught by instructor i % INSTRUCTORS.
    let mut by_course: Vec<Vec<usize>> = vec![Vec::new(); COURSES];
    for s in 0..SECTIONS {
        by_course[s % COURSES].push(s);
    }
    for (c, sections) in by_course.iter().enumerate() {
        let _ = writeln!(
            t,
            "[[courses]]\nid = \"C{c:04}\"\ntitle = \"Course {c}\"\nterm = \"fa26\"\n"
        );
        for &s in sections {
            let kind = ["lecture", "discussion", "lab"][s % 3];
            let (days, start, end) = pattern((s / ROOMS) % 16);
            let _ = writeln!(
                t,
                "[[courses.sections]]\nid = \"S{s:04}\"\nkind = \"{kind}\"\nenrollment = {}\n\n[[courses.sections.meetings]]\ndays = \"{days}\"\nstart = \"{start}\"\nend = \"{end}\"\nroom = \"R{:03}\"\ninstructors = [\"i{:04}\"]\n",
                20 + s % 60,
                s % ROOMS,
                s % INSTRUCTORS
            );
        }
        // One office-hour block per course, by a TA, on Mondays or Thursdays late afternoon (a TA
        // with two courses holds them on different days).
        let _ = writeln!(
            t,
            "[[courses.office_hours]]\nta = \"t{:04}\"\ndays = \"{}\"\nstart = \"17:00\"\nend = \"18:30\"\nlocation = \"Online\"\n",
            c % TAS,
            if (c + c / TAS).is_multiple_of(2) {
                "M"
            } else {
                "R"
            }
        );
    }
    t
}

fn line(seq: u64, time: Timestamp, source: &str, client: &str) -> String {
    let auth = Auth::system();
    EnvelopeBody {
        node: "bench",
        conn: 0,
        ip: "",
        agent: "bench",
        auth: &auth,
        source,
        timer: None,
    }
    .line(seq, time, client)
}

fn main() {
    let text = generate();
    let rss0 = rss_kib("VmRSS:");

    let started = Instant::now();
    let timetable = parse(&text, "America/New_York").expect("the generated timetable parses");
    let load = started.elapsed();
    let rss_loaded = rss_kib("VmRSS:");

    let started = Instant::now();
    let conflicts = check(&timetable);
    let check_time = started.elapsed();

    let started = Instant::now();
    let events = diff(&Timetable::default(), &timetable, DutyMode::Automatic);
    let plan_time = started.elapsed();

    let started = Instant::now();
    let at = Timestamp::from_micros(1_789_390_800_000_000); // Mon 2026-09-14 09:00 New York
    let lines: Vec<String> = events
        .iter()
        .enumerate()
        .map(|(i, e)| line(i as u64 + 1, at, &e.source, &e.client.to_string()))
        .collect();
    let log_bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut catalog = Timetable::default();
    let mut courses: HashMap<String, CourseState> = HashMap::new();
    let mut effects = 0usize;
    for l in &lines {
        let event = Event::from_line(l).expect("a log line");
        let _ = CatalogReducer.reduce(&mut catalog, &event);
        if let Some(id) = event.str_field("course_id") {
            let state = courses.entry(id.into_owned()).or_default();
            effects += CourseReducer.reduce(state, &event).effects().len();
        }
    }
    let replay = started.elapsed();
    let rss_end = rss_kib("VmRSS:");
    assert_eq!(
        catalog, timetable,
        "replaying the import rebuilds the timetable"
    );

    let (sections, meetings, blocks) = timetable.counts();
    println!(
        "timetable: {} courses, {sections} sections, {meetings} meetings, {blocks} office-hour blocks, {} rooms, {} staff, file {:.1} MiB",
        timetable.courses.len(),
        timetable.rooms.len(),
        timetable.people.len(),
        text.len() as f64 / 1048576.0
    );
    println!(
        "load (parse + validate):     {:>8.1} ms",
        load.as_secs_f64() * 1e3
    );
    println!(
        "conflict check:              {:>8.1} ms  ({} conflicts)",
        check_time.as_secs_f64() * 1e3,
        conflicts.len()
    );
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for c in &conflicts {
        *kinds.entry(format!("{:?}", c.kind)).or_default() += 1;
    }
    println!("  conflicts by kind: {kinds:?}");
    println!(
        "load + check:                {:>8.1} ms  (bar: < 1000 ms)",
        (load + check_time).as_secs_f64() * 1e3
    );
    println!(
        "import events (diff):        {:>8.1} ms  ({} events, {:.1} MiB of log)",
        plan_time.as_secs_f64() * 1e3,
        events.len(),
        log_bytes as f64 / 1048576.0
    );
    println!(
        "replay through the reducers: {:>8.1} ms  ({} course states, {effects} timer effects)",
        replay.as_secs_f64() * 1e3,
        courses.len()
    );
    println!(
        "memory (RSS): {:.1} MiB after generating, +{:.1} MiB for the loaded model, {:.1} MiB at the end (peak {:.1} MiB)",
        rss0 as f64 / 1024.0,
        rss_loaded.saturating_sub(rss0) as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0
    );
    if (load + check_time).as_secs_f64() >= 1.0 {
        eprintln!(
            "over the bar: load + check took {:.2} s",
            (load + check_time).as_secs_f64()
        );
        std::process::exit(1);
    }
}
