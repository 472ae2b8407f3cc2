//! Fuzzing (property-based) the log reader: segment files made of valid log lines, damaged
//! ones, garbage, blank lines and a torn tail.
//!
//! - the reader never panics, returns exactly the lines that carry a sequence number at or past
//!   where it was asked to start, in file order, and reports the others as skipped;
//! - every line it returns parses as an event, or is refused with an error (never a panic),
//!   and a line written as a valid envelope reads back with its sequence number and source;
//! - cutting the torn tail leaves whole lines only, and finds the last sequence number;
//! - a node started on such a log (replay into reducers, the roster's among them) starts.
//!
//! `CLASSPULSE_FUZZ_CASES` sets the number of cases (default 256; the replay property runs a
//! sixteenth of them).

mod common;

use classpulse_core::config::Config;
use classpulse_core::event::Event;
use classpulse_core::log::LogReader;
use classpulse_core::log::segment;
use classpulse_core::runtime::{Runtime, RuntimeOptions};
use common::TempDir;
use common::modules::{SOURCE, TestModule};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;

fn cases() -> u32 {
    std::env::var("CLASSPULSE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// One line of a fuzzed segment.
#[derive(Debug, Clone)]
enum Piece {
    /// A valid envelope (its seq is assigned in order when written).
    Valid {
        source: String,
        system: bool,
        client: Value,
    },
    /// A valid envelope with one byte replaced.
    Damaged { client: Value, at: usize, byte: u8 },
    /// Arbitrary bytes (no newline).
    Garbage(Vec<u8>),
    /// An empty line.
    Blank,
    /// A line starting like an envelope with any seq, then anything.
    Seq(u64, String),
}

fn client() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z0-9 _.-]{0,12}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
    ];
    let keys = prop::sample::select(vec![
        "event",
        "course_id",
        "user_id",
        "role",
        "name",
        "members",
        "id",
        "at",
        "x",
    ]);
    let events = prop::sample::select(vec![
        "enrolled",
        "unenrolled",
        "staff_added",
        "staff_removed",
        "course_named",
        "start",
        "tick",
        "panic",
        "e",
    ]);
    (events, prop::collection::vec((keys, scalar), 0..5)).prop_map(|(event, fields)| {
        let mut map = serde_json::Map::new();
        map.insert("event".into(), json!(event));
        for (k, v) in fields {
            map.insert(k.to_owned(), v);
        }
        Value::Object(map)
    })
}

fn piece() -> impl Strategy<Value = Piece> {
    let source = prop::sample::select(vec![SOURCE, "org.classpulse.roster", "org.other", ""]);
    prop_oneof![
        6 => (source, any::<bool>(), client()).prop_map(|(s, system, client)| Piece::Valid {
            source: s.to_owned(),
            system,
            client,
        }),
        1 => (client(), any::<usize>(), any::<u8>())
            .prop_map(|(client, at, byte)| Piece::Damaged { client, at, byte }),
        1 => prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40)
            .prop_map(Piece::Garbage),
        1 => Just(Piece::Blank),
        1 => (prop_oneof![any::<u64>(), Just(0), Just(u64::MAX), Just(u64::MAX - 1)], "(\\PC){0,20}")
            .prop_map(|(n, s)| Piece::Seq(n, s)),
    ]
}

fn envelope(seq: u64, source: &str, system: bool, client: &Value) -> String {
    let auth = if system {
        json!({"providence": "system", "safe_user_id": "system", "sec": "authenticated", "user_id": "system"})
    } else {
        json!({"providence": "tc", "safe_user_id": "tc-testcase-x", "sec": "unauthenticated", "user_id": "testcase-x"})
    };
    format!(
        "{{\"seq\":{seq},\"time\":{}.5,\"node\":\"n\",\"conn\":{},\"ip\":\"\",\"agent\":\"\",\"auth\":{auth},\"source\":{},\"client\":{client}}}",
        1_700_000_000 + seq,
        if system { 0 } else { 7 },
        json!(source)
    )
}

/// A line written as a valid envelope: its text, seq and source.
type ValidLine = (String, u64, String);

/// Writes the pieces as one segment; returns its bytes and its valid lines.
fn segment_bytes(pieces: &[Piece], torn: Option<usize>) -> (Vec<u8>, Vec<ValidLine>) {
    let mut out = Vec::new();
    let mut valid = Vec::new();
    let mut seq = 0;
    for piece in pieces {
        match piece {
            Piece::Valid {
                source,
                system,
                client,
            } => {
                seq += 1;
                let line = envelope(seq, source, *system, client);
                out.extend_from_slice(line.as_bytes());
                valid.push((line, seq, source.clone()));
            }
            Piece::Damaged { client, at, byte } => {
                seq += 1;
                let mut line = envelope(seq, SOURCE, false, client).into_bytes();
                let i = at % line.len();
                line[i] = if *byte == b'\n' { b' ' } else { *byte };
                out.extend_from_slice(&line);
            }
            Piece::Garbage(bytes) => out.extend_from_slice(bytes),
            Piece::Blank => {}
            Piece::Seq(n, rest) => out.extend_from_slice(
                format!("{{\"seq\":{n},{rest}")
                    .replace('\n', " ")
                    .as_bytes(),
            ),
        }
        out.push(b'\n');
    }
    if let Some(cut) = torn {
        // A torn tail: part of one more line, no newline.
        let tail = envelope(seq + 1, SOURCE, false, &json!({"event": "torn"}));
        out.extend_from_slice(&tail.as_bytes()[..cut % tail.len()]);
    }
    (out, valid)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures become regression tests in this file, not files proptest writes.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(cases()))]

    #[test]
    fn the_reader_returns_what_is_there_and_skips_the_rest(
        pieces in prop::collection::vec(piece(), 0..30),
        torn in prop::option::of(any::<usize>()),
        from in 0u64..6,
    ) {
        let dir = TempDir::new("fuzz-log");
        let (bytes, valid) = segment_bytes(&pieces, torn);
        let path = dir.path().join(segment::file_name(1));
        std::fs::write(&path, &bytes).unwrap();

        let mut reader = LogReader::open(dir.path(), from).unwrap();
        let mut read: Vec<u64> = Vec::new();
        while let Some(batch) = reader.next_batch().unwrap() {
            for (seq, text) in batch.iter() {
                read.push(seq);
                // Parsing a line never panics; valid envelopes read back as written.
                let parsed = Event::from_line(&text);
                if let Some((_, s, source)) = valid.iter().find(|(line, ..)| *line == text) {
                    let event = parsed.unwrap_or_else(|e| panic!("{text}: {e}"));
                    prop_assert_eq!(event.position.seq, *s);
                    prop_assert_eq!(event.source.as_ref(), source.as_str());
                }
            }
        }
        for (_, seq, _) in valid.iter().filter(|(_, s, _)| *s >= from) {
            prop_assert!(read.contains(seq), "valid line {} not returned", seq);
        }
        let expected: Vec<u64> = bytes
            .split(|b| *b == b'\n')
            .take(bytes.iter().filter(|b| **b == b'\n').count())
            .filter_map(segment::seq_of)
            .filter(|s| *s >= from)
            .collect();
        prop_assert_eq!(&read, &expected);

        // Recovering the tail keeps whole lines only and finds the last seq.
        let recovered = segment::recover_tail(&path).unwrap();
        let after = std::fs::read(&path).unwrap();
        prop_assert!(after.is_empty() || after.ends_with(b"\n"));
        prop_assert_eq!(recovered.len as usize, after.len());
        prop_assert!(bytes.starts_with(&after));
        let last_line = after.strip_suffix(b"\n").and_then(|a| a.split(|b| *b == b'\n').next_back());
        prop_assert_eq!(recovered.last_seq, last_line.and_then(segment::seq_of).unwrap_or(0));
    }
}

proptest! {
    #![proptest_config(config((cases() / 16).max(8)))]

    #[test]
    fn a_node_starts_on_a_damaged_log(
        pieces in prop::collection::vec(piece(), 0..40),
        torn in prop::option::of(any::<usize>()),
    ) {
        let dir = TempDir::new("fuzz-replay");
        let (bytes, valid) = segment_bytes(&pieces, torn);
        std::fs::create_dir_all(dir.path().join("log")).unwrap();
        std::fs::write(dir.path().join("log").join(segment::file_name(1)), &bytes).unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().to_owned();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let last_seq_is_max = segment::recover_tail(
            &dir.path().join("log").join(segment::file_name(1)),
        )
        .unwrap()
        .last_seq
            == u64::MAX;
        rt.block_on(async {
            match Runtime::start(RuntimeOptions::new(config, vec![Arc::new(TestModule)])).await {
                Ok(runtime) => {
                    // Every line that reads back as an event was replayed.
                    assert!(runtime.replayed >= valid.len() as u64);
                    runtime.shutdown().await;
                }
                // The one damage a node refuses to start on, with a clear message.
                Err(e) => assert!(
                    last_seq_is_max && e.to_string().contains("cannot go on"),
                    "a node did not start on a damaged log: {e}"
                ),
            }
        });
    }
}

/// Regression (found by this fuzzer): a log whose last whole line claims sequence number
/// `u64::MAX` made the writer overflow (a panic at start-up); now the node refuses to start and
/// says which line to move aside.
#[tokio::test]
async fn a_last_line_claiming_the_last_seq_is_refused_clearly() {
    let dir = TempDir::new("fuzz-maxseq");
    let log = dir.path().join("log");
    std::fs::create_dir_all(&log).unwrap();
    let line = envelope(1, SOURCE, false, &json!({"event": "e"}));
    std::fs::write(
        log.join(segment::file_name(1)),
        format!("{line}\n{{\"seq\":{},\"x\":1}}\n", u64::MAX),
    )
    .unwrap();
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_owned();
    let error = match Runtime::start(RuntimeOptions::new(config, vec![Arc::new(TestModule)])).await
    {
        Ok(_) => panic!("started on a log that cannot go on"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("cannot go on") && error.contains("00000000000000000001.jsonl"),
        "{error}"
    );
}
