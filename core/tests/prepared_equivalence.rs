//! The live path hands the router events built from ingest's field spans; replay parses log
//! lines. Both must give the same events, or replay would not reproduce live state.

use classpulse_core::event::envelope::{EnvelopeBody, finish_line};
use classpulse_core::event::{Auth, Event, Fields, Security, Timestamp};
use classpulse_core::ingest::lock_fields::LockFields;
use classpulse_core::log::Prepared;
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

fn describe(e: &Event<'_>) -> String {
    let fields: Vec<String> = e
        .fields
        .iter()
        .map(|(k, v)| format!("{k}={}", v.get()))
        .collect();
    format!(
        "{}:{} t={} conn={} auth={:?} source={} timer={:?} fields={fields:?}",
        e.position.node, e.position.seq, e.time, e.conn, e.auth, e.source, e.timer
    )
}

fn check(lock: &LockFields, frame: &str, derived: &[(&'static str, String)]) {
    let fields = Fields::parse(frame).unwrap();
    let source = lock.canonical_source(&fields).into_owned();
    let auth = Arc::new(Auth {
        providence: Cow::Borrowed("tc"),
        safe_user_id: Cow::Borrowed("tc-testcase-a\"b"),
        sec: Security::Unauthenticated,
        user_id: Cow::Borrowed("testcase-a\"b"),
    });
    let mut body = String::new();
    EnvelopeBody {
        node: "n1",
        conn: 9,
        ip: "127.0.0.1",
        agent: "agent \"x\"",
        auth: &auth,
        source: &source,
        timer: None,
    }
    .write_prefix(&mut body);
    let mut spans = Vec::new();
    lock.write_merged(&fields, &source, derived, &mut body, &mut spans);
    body.push('}');
    let mut line = Vec::new();
    let time = Timestamp::from_micros(1_795_504_071_795_146);
    let body_start = finish_line(&mut line, 77, time, body.as_bytes());
    let line = String::from_utf8(line).unwrap();
    let text = line.trim_end_matches('\n');
    let parsed = Event::from_line(text).unwrap();
    let prepared = Prepared {
        node: Arc::from("n1"),
        auth,
        source: Arc::from(source.as_str()),
        conn: 9,
        fields: spans,
    };
    let live = prepared.event(&text[body_start..], 77, time).unwrap();
    assert_eq!(describe(&live), describe(&parsed), "frame {frame}");
}

#[test]
fn conformance_frames_give_the_same_event_both_ways() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/conformance");
    let mut frames = 0;
    for dir in ["stream_writing_session", "lo_event_node_session"] {
        for entry in std::fs::read_dir(base.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.ends_with(".received.jsonl") || name.starts_with("received_conn")) {
                continue;
            }
            let mut lock = LockFields::default();
            for frame in std::fs::read_to_string(&path).unwrap().lines() {
                let fields = Fields::parse(frame).unwrap();
                if fields.str("event").as_deref() == Some("lock_fields") {
                    lock.update(&fields).unwrap();
                    continue;
                }
                check(&lock, frame, &[("doc_id", "\"derived\"".into())]);
                frames += 1;
            }
        }
    }
    assert!(frames > 600);
}

#[test]
fn tricky_frames_give_the_same_event_both_ways() {
    let mut lock = LockFields::default();
    let header = r#"{"event":"lock_fields","fields":{"source":"org.x-y","tag":"t","ack":true}}"#;
    lock.update(&Fields::parse(header).unwrap()).unwrap();
    for frame in [
        r#"{"event":"k"}"#,
        r#"{"event":"k","a\"b":1,"uni\u00e9":"é","emoji":"🌍","esc":"line\nbreak"}"#,
        r#"{"event":"k","dup":1,"dup":2,"tag":"overridden","auth":{"user_id":"x"}}"#,
        r#"{"event":"k","event-type":"legacy","doc_id":"","nested":{"a":[1,{"b":null}]}}"#,
        r#"{"event":"k","doc_id":"kept","token":"secret","n":-1.5e3}"#,
        r#"  {  "event" : "k" , "spaced" : [ 1 , 2 ] }  "#,
    ] {
        check(&lock, frame, &[("doc_id", "\"derived\"".into())]);
        check(&lock, frame, &[]);
        check(&LockFields::default(), frame, &[]);
    }
}
