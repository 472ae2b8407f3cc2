//! Fuzzing (property-based, so it runs in CI) the ingest frame decoder and `lock_fields`:
//! arbitrary and damaged frames, and arbitrary sequences of headers and events.
//!
//! - `frame::decode` never panics; it accepts exactly the JSON objects within the size and depth
//!   limits (serde_json is the reference), and says which limit a refused frame broke;
//! - merging lock fields into an event always writes one valid JSON object in which the lock
//!   fields win, the protocol keys (`auth`, `token`, `ack`) never appear, every other key of the
//!   event survives (renamed when legacy), and every recorded field span points at its key and
//!   a valid JSON value — the spans the router reads events by.
//!
//! `CLASSPULSE_FUZZ_CASES` sets the number of cases per property (default 256, a few seconds);
//! `docs/reliability.md` has the long run.

use classpulse_core::event::Fields;
use classpulse_core::ingest::frame;
use classpulse_core::ingest::lock_fields::LockFields;
use classpulse_core::log::FieldSpan;
use classpulse_core::telemetry::Rejection;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn cases() -> u32 {
    std::env::var("CLASSPULSE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Keys that matter to ingest, and some that do not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "event", "source", "auth", "token", "ack", "user_id", "doc_id", "version",
            "event-type", "teacher-tag", "unique-id", "chrome_identity", "fields", "",
            "sou\"rce", "\u{0}", "ключ", "a-b-c",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_\\-]{1,8}",
    ]
}

fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "(\\PC|[\"\\\\\u{1}\u{7f}])*".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json_value(3)), 0..8).prop_map(|kv| kv.into_iter().collect())
}

/// Nesting depth of JSON text, counting brackets outside strings.
fn text_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// What the decoder must say about `text`. The reference is serde_json's validation without
/// number range checks (`IgnoredAny`, as for `RawValue`, which replay parses log lines with):
/// a huge exponent is valid JSON, and a line ingest accepts must read back.
fn check_decode(text: &str, max_bytes: usize, max_depth: usize) {
    let ours = frame::decode(text, max_bytes, max_depth);
    if text.len() > max_bytes {
        assert_eq!(ours.unwrap_err().0, Rejection::TooLarge, "{text:?}");
        return;
    }
    let valid = match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => true,
        // serde_json stops at 128 levels; beyond that, only "refused" is required.
        Err(e) if e.to_string().contains("recursion limit") => {
            assert!(ours.is_err(), "{text:?}");
            return;
        }
        Err(_) => false,
    };
    if !valid {
        assert!(
            matches!(
                ours.as_ref().map_err(|e| e.0),
                Err(Rejection::InvalidJson | Rejection::TooDeep)
            ),
            "accepted invalid {text:?}: {ours:?}"
        );
        return;
    }
    if text_depth(text) > max_depth {
        assert_eq!(ours.unwrap_err().0, Rejection::TooDeep, "{text:?}");
        return;
    }
    match serde_json::from_str::<std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>>(
        text,
    ) {
        Ok(o) => {
            let fields = ours.unwrap_or_else(|e| panic!("refused {text:?}: {e:?}"));
            let keys: Vec<&str> = fields.iter().map(|(k, _)| k).collect();
            // Duplicate keys: serde keeps the last; the decoder keeps all, in order.
            for k in o.keys() {
                assert!(keys.contains(&k.as_str()), "{k:?} lost from {text:?}");
            }
            // What ingest accepts, replay reads back.
            assert!(Fields::parse(text).is_ok(), "{text:?}");
        }
        Err(_) => assert_eq!(ours.unwrap_err().0, Rejection::NotAnObject, "{text:?}"),
    }
}

fn text_of(out: &[u8], (a, b): (u32, u32)) -> &str {
    std::str::from_utf8(&out[a as usize..b as usize]).expect("spans fall on characters")
}

const RESERVED: [&str; 3] = ["auth", "token", "ack"];

fn renamed(key: &str) -> &str {
    match key {
        "event-type" => "event_type",
        "teacher-tag" => "teacher_tag",
        "unique-id" => "unique_id",
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Failures become regression tests in this file, not files proptest writes.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn decode_refuses_exactly_what_it_should(
        v in json_value(6),
        limit in 1usize..8,
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let text = json!({"event": "x", "v": v}).to_string();
        check_decode(&text, 1 << 20, limit);
        check_decode(&text, text.len().saturating_sub(1).max(1), 64);
        // Damaged: cut short, or one byte replaced (kept when the result is still UTF-8).
        let at = cut.index(text.len().max(1));
        if text.is_char_boundary(at) {
            check_decode(&text[..at], 1 << 20, limit);
        }
        let mut bytes = text.clone().into_bytes();
        if !bytes.is_empty() {
            let i = at.min(bytes.len() - 1);
            bytes[i] = byte;
            if let Ok(damaged) = String::from_utf8(bytes) {
                check_decode(&damaged, 1 << 20, limit);
            }
        }
    }

    #[test]
    fn decode_survives_any_text(text in "(\\PC|[{}\\[\\]\":,\\\\])*") {
        check_decode(&text, 1 << 20, 8);
        check_decode(&format!("{{{text}"), 1 << 20, 8);
    }

    #[test]
    fn decode_counts_depth_to_any_nesting(depth in 1usize..300, limit in 1usize..200) {
        let text = format!("{}1{}", "[".repeat(depth - 1), "]".repeat(depth - 1));
        let frame = format!("{{\"event\":\"deep\",\"v\":{text}}}");
        let result = frame::decode(&frame, 1 << 20, limit);
        if depth > limit {
            prop_assert_eq!(result.unwrap_err().0, Rejection::TooDeep);
        } else {
            prop_assert!(result.is_ok());
        }
    }

    #[test]
    fn lock_fields_merge_into_valid_events(
        headers in prop::collection::vec(object(), 0..4),
        events in prop::collection::vec(object(), 1..4),
        derived_doc in prop::option::of("[a-z0-9]{1,12}"),
    ) {
        let mut lock = LockFields::default();
        for header in &headers {
            let frame = json!({"event": "lock_fields", "fields": header}).to_string();
            let fields = Fields::parse(&frame).unwrap();
            lock.update(&fields).expect("an object of fields is always taken");
        }
        let derived: Vec<(&'static str, String)> = derived_doc
            .iter()
            .map(|d| ("doc_id", Value::String(d.clone()).to_string()))
            .collect();
        for event in &events {
            let frame = Value::Object(event.clone()).to_string();
            let fields = Fields::parse(&frame).unwrap();
            let source = lock.canonical_source(&fields).into_owned();
            let mut out = String::new();
            let mut spans: Vec<FieldSpan> = Vec::new();
            lock.write_merged(&fields, &source, &derived, &mut out, &mut spans);
            let merged: Map<String, Value> = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
            for reserved in RESERVED {
                prop_assert!(!merged.contains_key(reserved), "{} leaked", reserved);
            }
            // The lock fields win (a header repeating the current source was ignored whole,
            // as in Learning Observer, so only what the lock holds is checked).
            for header in &headers {
                for k in header.keys() {
                    let Some(raw) = lock.get(k) else { continue };
                    if !RESERVED.contains(&k.as_str()) && k != "source" {
                        let lock_value: Value = serde_json::from_str(raw.get()).unwrap();
                        // A derived field takes the place of a falsy one (LO's adapters).
                        let falsy = matches!(
                            raw.get(),
                            "null" | "\"\"" | "0" | "false" | "0.0" | "[]" | "{}"
                        );
                        if k == "doc_id" && !derived.is_empty() && falsy {
                            continue;
                        }
                        prop_assert_eq!(&merged[k], &lock_value, "lock field {}", k);
                    }
                }
            }
            // The event's own keys survive, renamed when legacy (unless a lock field of the
            // same name took their place).
            for k in event.keys() {
                if RESERVED.contains(&k.as_str()) {
                    continue;
                }
                let kept = if lock.get(k).is_some() { k.as_str() } else { renamed(k) };
                prop_assert!(merged.contains_key(kept), "{} lost", k);
            }
            // A string source is written canonical (dashes made underscores).
            if let Some(written) = merged.get("source").and_then(Value::as_str) {
                prop_assert_eq!(written, source.as_str());
            }
            // Each span is its key and a valid JSON value; every field written has one.
            prop_assert!(spans.len() >= merged.len());
            for span in &spans {
                let key_text = text_of(out.as_bytes(), span.key);
                let key: String = if span.key_escaped {
                    serde_json::from_str(&format!("\"{key_text}\"")).unwrap()
                } else {
                    key_text.to_owned()
                };
                prop_assert!(merged.contains_key(&key), "span key {:?}", key);
                prop_assert!(serde_json::from_str::<Value>(text_of(out.as_bytes(), span.value)).is_ok());
            }
        }
    }
}
