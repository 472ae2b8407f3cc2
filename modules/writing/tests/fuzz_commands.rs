//! Fuzzing (property-based) the Google Docs command interpreter: `google_docs_save` bundles and
//! `document_history` changelogs shaped like real commands but with any types, any indices
//! (negative, past the end, 10¹⁸), any text, nesting, tabs and unknown commands.
//!
//! - the fast parser and the general one agree whenever the fast one accepts;
//! - parsing never panics; applying a parsed edit never panics and never grows a document (or
//!   a tab) past the configured limit;
//! - the reducers, run on the event as a log line (`OfflineRouter`), never panic: a bad event
//!   is a reducer error, reported, and the document stays within the limit.
//!
//! `CLASSPULSE_FUZZ_CASES` sets the number of cases (default 256).

use classpulse_core::event::Timestamp;
use classpulse_core::reducer::ScopeKey;
use classpulse_writing::offline::{OfflineRouter, log_line};
use classpulse_writing::reconstruct::fast_parse::save_commands;
use classpulse_writing::reconstruct::{Document, Edit, Limits};
use classpulse_writing::{SOURCE, WritingConfig};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const MAX_CHARS: usize = 2_000;

fn cases() -> u32 {
    std::env::var("CLASSPULSE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn index() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (-3i64..60).prop_map(|n| json!(n)),
        1 => prop_oneof![
            Just(json!(i64::MAX)),
            Just(json!(i64::MIN)),
            Just(json!(1_000_000_000_000_000_000u64)),
            Just(json!(u64::MAX)),
            Just(json!(1999)),
            Just(json!(2001)),
        ],
        1 => prop_oneof![
            Just(json!(true)),
            Just(json!(false)),
            Just(json!(1.5)),
            Just(json!(-0.0)),
            Just(json!("3")),
            Just(Value::Null),
            Just(json!([1])),
        ],
    ]
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "(\\PC|[\u{1}\u{200d}\u{301}🎉\n]){0,12}".prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<i32>().prop_map(|n| json!(n)),
        1 => Just(json!(["a", "b"])),
    ]
}

fn ty() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "is", "ds", "mlti", "nm", "rplc", "rvrt", "as", "ae", "ue", "mkch", "null", "ucp",
        ])
        .prop_map(|t| json!(t)),
        1 => "[a-z]{0,4}".prop_map(Value::String),
        1 => Just(json!(1)),
    ]
}

fn command() -> impl Strategy<Value = Value> {
    let leaf = (
        ty(),
        index(),
        index(),
        text(),
        prop::option::of(("[a-z]{1,4}", index())),
    )
        .prop_map(|(ty, a, b, s, extra)| {
            let mut m = Map::new();
            let kind = ty.as_str().unwrap_or("").to_owned();
            m.insert("ty".into(), ty);
            match kind.as_str() {
                "is" => {
                    m.insert("ibi".into(), a);
                    m.insert("s".into(), s);
                }
                "ds" | "as" => {
                    m.insert("si".into(), a);
                    m.insert("ei".into(), b);
                    if kind == "as" {
                        m.insert("st".into(), json!("text"));
                        m.insert("sm".into(), json!({}));
                    }
                }
                "rplc" | "rvrt" => {
                    m.insert(
                        "snapshot".into(),
                        json!([{"ty": "is", "ibi": a, "s": s, "sl": b}]),
                    );
                }
                _ => {}
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        });
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|mts| json!({"ty": "mlti", "mts": mts})),
            (inner, prop::sample::select(vec!["t.0", "t.abc", "x", ""]))
                .prop_map(|(c, tab)| json!({"ty": "nm", "nmc": c, "nmr": ["x", tab]})),
        ]
    })
}

fn bundles() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::collection::vec(prop::collection::vec(command(), 0..6), 0..3).prop_map(|bs| {
            Value::Array(bs.into_iter().map(|c| json!({"commands": c})).collect())
        }),
        1 => Just(json!({})),
        1 => Just(json!("")),
        1 => Just(json!([{"commands": "ty"}])),
        1 => Just(json!([{"nope": []}])),
        1 => Just(json!(null)),
    ]
}

fn within_limit(doc: &Document) -> bool {
    doc.len_chars() <= MAX_CHARS && doc.tabs().all(|(_, tab)| tab.len_chars() <= MAX_CHARS)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn parsing_agrees_and_applying_stays_within_limits(saves in prop::collection::vec(bundles(), 1..5)) {
        let limits = Limits { max_chars: MAX_CHARS };
        let mut doc = Document::new();
        for bundles in &saves {
            let text = bundles.to_string();
            let general = Edit::from_save(Some(bundles));
            if let Some(fast) = save_commands(&text) {
                let general = general.as_ref().expect("the general parser accepts what the fast one does");
                prop_assert_eq!(general.commands(), &fast[..], "fast and general paths differ");
            }
            if let Ok(edit) = general {
                doc.apply_edit(&edit, &limits);
                prop_assert!(within_limit(&doc), "document of {} chars", doc.len_chars());
            }
        }
        // A rebuild from a changelog of the same commands.
        let changelog: Vec<Value> = saves
            .iter()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| b.get("commands").and_then(Value::as_array))
            .flatten()
            .map(|c| json!([c, 1, 2]))
            .collect();
        if let Ok(edit) = Edit::from_history(Some(&json!({"changelog": changelog}))) {
            doc.apply_edit(&edit, &limits);
            prop_assert!(within_limit(&doc));
        }
    }

    #[test]
    fn the_reducers_survive_any_save(saves in prop::collection::vec(bundles(), 1..4), history in any::<bool>()) {
        let config = WritingConfig { max_document_chars: MAX_CHARS, ..WritingConfig::default() };
        let module = config.build().unwrap();
        let mut router = OfflineRouter::new(module.erased_reducers());
        for (i, bundles) in saves.iter().enumerate() {
            let client = if history && i == 0 {
                json!({"event": "document_history", "doc_id": "d", "history": {"changelog": [[bundles, 1]]}})
            } else {
                json!({"event": "google_docs_save", "doc_id": "d", "bundles": bundles})
            };
            let line = log_line(i as u64 + 1, Timestamp::from_micros(1_700_000_000_000_000 + i as i64), "tc-testcase-f", SOURCE, &client.to_string());
            router.apply_line(&line).expect("a log line");
        }
        let key = ScopeKey::from_text("student:tc-testcase-f|doc_id:d");
        if let Some(doc) = router.state::<Document>("writing.reconstruct", &key) {
            prop_assert!(within_limit(doc));
        }
    }
}
