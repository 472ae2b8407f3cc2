//! Offline throughput of the writing reducers: no sockets, no log, no KVS — event-log lines
//! parsed into events, routed by scope and reduced by all eleven writing reducers, on one core.
//!
//! ```text
//! cargo run --release -p classpulse-writing --example reducer_bench [-- --quick]
//! ```
//!
//! Scenarios (one `google_docs_save` per typed character, students interleaved):
//! * 100 students × 200 characters, and 2 students × 10,000 characters (Learning Observer:
//!   5,900 and 2,100 events/s on this kind of machine);
//! * per-event cost of typing into a 100-character and a 100,000-character document (appending
//!   at the end, and inserting in the middle): the ratio must stay below 2.

use classpulse_core::event::Timestamp;
use classpulse_writing::offline::{OfflineRouter, log_line};
use classpulse_writing::reconstruct::{Command, Document, Limits};
use classpulse_writing::{SOURCE, WritingModule};
use std::time::{Duration, Instant};

/// The text typed, cycled.
const LOREM: &str = "Minim dolor veniam duis irure sint dolore ut dolore ex esse magna in \
consectetur ea aute. Ex cupidatat dolor reprehenderit amet anim sed culpa enim aute sunt. ";

/// Event shapes.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Learning Observer's `stream_writing.py` (what its measurements used).
    StreamWriting,
    /// The writing extension's save, with its merged lock fields.
    Extension,
}

fn save_event(shape: Shape, student: usize, ibi: usize, ch: char, ts_ms: u64) -> String {
    let s = serde_json::to_string(&ch.to_string()).unwrap();
    match shape {
        Shape::StreamWriting => format!(
            r#"{{"event":"google_docs_save","source":"{SOURCE}","origin":"stream_test_script","doc_id":"doc-{student}","timestamp":{ts_ms},"bundles":[{{"commands":[{{"ibi":{ibi},"s":{s},"ty":"is"}}]}}]}}"#
        ),
        Shape::Extension => format!(
            r#"{{"event":"google_docs_save","source":"{SOURCE}","version":"1.0.0.2","user_id":"student-{student}","chrome_identity":{{}},"browserInfo":{{"browser_info":{{"connection":null,"document":null,"navigator":null,"window":null}}}},"localStorageInfo":null,"sessionStorageInfo":null,"doc_id":"1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE{student:05}","tab_id":"t.0","url":"https://docs.google.com/document/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE{student:05}/edit?tab=t.0","rev":{ibi},"timestamp":{ts_ms},"metadata":{{"iso_ts":"2026-11-24T07:07:52.603Z"}},"bundles":[{{"commands":[{{"ibi":{ibi},"s":{s},"ty":"is"}}],"reqId":{ibi},"sid":"abc"}}]}}"#
        ),
    }
}

/// Log lines for `students` each typing `chars` characters, interleaved, 50 ms apart.
fn typing_lines(shape: Shape, students: usize, chars: usize) -> Vec<String> {
    let text: Vec<char> = LOREM.chars().collect();
    let mut lines = Vec::with_capacity(students * chars);
    let mut seq = 0;
    for i in 0..chars {
        for student in 0..students {
            seq += 1;
            let ts_ms = 1_795_504_072_000 + seq * 50;
            let client = save_event(shape, student, i + 1, text[i % text.len()], ts_ms);
            lines.push(log_line(
                seq,
                Timestamp::from_millis(ts_ms as i64),
                &format!("tc-testcase-student{student}"),
                SOURCE,
                &client,
            ));
        }
    }
    lines
}

fn run(router: &mut OfflineRouter, lines: &[String]) -> Duration {
    let start = Instant::now();
    for line in lines {
        let routed = router.apply_line(line).expect("valid line");
        debug_assert!(routed.errors.is_empty());
        std::hint::black_box(&routed);
    }
    start.elapsed()
}

fn throughput(name: &str, shape: Shape, students: usize, chars: usize) {
    let lines = typing_lines(shape, students, chars);
    let mut router = OfflineRouter::new(WritingModule::default().erased_reducers());
    let elapsed = run(&mut router, &lines);
    let per_event = elapsed.as_secs_f64() / lines.len() as f64;
    // The same lines without reducing: parse the log line, derive every reducer's key, find
    // the state. What is left is the reducers' own cost.
    let routing = routing_only(&lines).as_secs_f64() / lines.len() as f64;
    println!(
        "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} |",
        lines.len(),
        1.0 / per_event,
        per_event * 1e6,
        routing * 1e6,
        (per_event - routing) * 1e6,
    );
}

/// Time to parse and route `lines` (keys derived and states found), without reducing.
fn routing_only(lines: &[String]) -> Duration {
    use classpulse_core::event::Event;
    use std::collections::HashMap;
    let reducers = WritingModule::default().erased_reducers();
    let sources: Vec<Vec<String>> = reducers.iter().map(|r| r.sources()).collect();
    let mut states = HashMap::new();
    let start = Instant::now();
    for line in lines {
        let event = Event::from_line(line.trim_end()).expect("valid line");
        for (i, reducer) in reducers.iter().enumerate() {
            if !sources[i].iter().any(|s| s == event.source()) {
                continue;
            }
            if let Some(key) = reducer.scope().key_for(&event) {
                let state = states.entry((i, key)).or_insert(0u64);
                *state += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    std::hint::black_box(states.len());
    elapsed
}

/// Per-event cost (ns) of `events` one-character saves into a document of `size` characters,
/// at the end (`middle == false`) or in the middle.
fn per_event_ns(size: usize, events: usize, middle: bool) -> f64 {
    let mut router = OfflineRouter::new(WritingModule::default().erased_reducers());
    let student = "tc-testcase-big";
    let prefill: String = LOREM.chars().cycle().take(size).collect();
    let first = format!(
        r#"{{"event":"google_docs_save","doc_id":"big","bundles":[{{"commands":[{{"ibi":1,"s":{},"ty":"is"}}]}}]}}"#,
        serde_json::to_string(&prefill).unwrap()
    );
    let t0 = 1_795_504_072_000_i64;
    router
        .apply_line(&log_line(
            1,
            Timestamp::from_millis(t0),
            student,
            SOURCE,
            &first,
        ))
        .unwrap();
    let lines: Vec<String> = (0..events)
        .map(|i| {
            let ibi = if middle { size / 2 + 1 } else { size + i + 1 };
            let client = format!(
                r#"{{"event":"google_docs_save","doc_id":"big","bundles":[{{"commands":[{{"ibi":{ibi},"s":"x","ty":"is"}}]}}]}}"#
            );
            log_line(i as u64 + 2, Timestamp::from_millis(t0 + 50 * (i as i64 + 1)), student, SOURCE, &client)
        })
        .collect();
    let elapsed = run(&mut router, &lines);
    elapsed.as_secs_f64() * 1e9 / events as f64
}

/// The engine alone: ns per one-character insert into a document of `size` characters.
fn engine_ns(size: usize, events: usize, middle: bool) -> f64 {
    let limits = Limits::default();
    let mut doc = Document::new();
    let prefill: String = LOREM.chars().cycle().take(size).collect();
    doc.apply(&Command::Insert { ibi: 1, s: prefill }, &limits);
    let commands: Vec<Command> = (0..events)
        .map(|i| Command::Insert {
            ibi: (if middle { size / 2 + 1 } else { size + i + 1 }) as i64,
            s: "x".into(),
        })
        .collect();
    let start = Instant::now();
    for c in &commands {
        doc.apply(c, &limits);
    }
    start.elapsed().as_secs_f64() * 1e9 / events as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    // `--only throughput` or `--only size` runs one half (for profiling).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    if only != Some("size") {
        throughputs(scale);
    }
    if only != Some("throughput") {
        sizes(scale);
    }
}

fn throughputs(scale: usize) {
    println!("## Writing reducers, offline, one core (all 11 reducers, log line → state)\n");
    println!(
        "| scenario | events | events/s | µs/event | of which parse + route | of which reducers |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    throughput(
        "100 students × 200 chars",
        Shape::StreamWriting,
        100,
        200 / scale,
    );
    throughput(
        "2 students × 10,000 chars",
        Shape::StreamWriting,
        2,
        10_000 / scale,
    );
    throughput(
        "100 students × 200 chars, extension-shaped events",
        Shape::Extension,
        100,
        200 / scale,
    );
    throughput(
        "2 students × 10,000 chars, extension-shaped events",
        Shape::Extension,
        2,
        10_000 / scale,
    );
}

fn sizes(scale: usize) {
    let events = 20_000 / scale;
    println!("\n## Per-event cost by document size ({events} one-character saves)\n");
    println!("| where | what | 100 chars (ns) | 100,000 chars (ns) | ratio |");
    println!("| --- | --- | ---: | ---: | ---: |");
    let mut worst: f64 = 0.0;
    for (label, middle) in [("append at end", false), ("insert in middle", true)] {
        // Warm up, then take the best of three to keep noise out of the ratio.
        let best = |f: &dyn Fn() -> f64| (0..3).map(|_| f()).fold(f64::INFINITY, f64::min);
        let small = best(&|| per_event_ns(100, events, middle));
        let large = best(&|| per_event_ns(100_000, events, middle));
        worst = worst.max(large / small);
        println!(
            "| {label} | all reducers | {small:.0} | {large:.0} | {:.2} |",
            large / small
        );
        let small = best(&|| engine_ns(100, events, middle));
        let large = best(&|| engine_ns(100_000, events, middle));
        println!(
            "| {label} | reconstruction engine only | {small:.0} | {large:.0} | {:.2} |",
            large / small
        );
    }
    println!("\nworst all-reducer ratio: {worst:.2} (must stay below 2)");
    if worst >= 2.0 {
        std::process::exit(1);
    }
}
