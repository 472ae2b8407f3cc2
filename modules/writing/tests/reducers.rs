//! The writing reducers as the runtime runs them: events written as log lines with explicit
//! server times, routed by scope, reduced by the `Reducer` implementations.

use classpulse_core::event::Timestamp;
use classpulse_core::reducer::ScopeKey;
use classpulse_writing::activity::binned_time_on_task::BinnedTimeOnTask;
use classpulse_writing::activity::time_on_task::TimeOnTask;
use classpulse_writing::documents::document_list::DocumentList;
use classpulse_writing::documents::tab_list::TabList;
use classpulse_writing::offline::{OfflineRouter, log_line};
use classpulse_writing::reconstruct::Document;
use classpulse_writing::student::event_count::EventCount;
use classpulse_writing::summary::{Activity, StudentSummary, SummaryInputs};
use classpulse_writing::{SOURCE, WritingConfig, WritingModule};
use serde_json::json;

const STUDENT: &str = "tc-testcase-alice";

struct Session {
    router: OfflineRouter,
    seq: u64,
}

impl Session {
    fn new(config: WritingConfig) -> Self {
        let module = config.build().unwrap();
        Session {
            router: OfflineRouter::new(module.erased_reducers()),
            seq: 0,
        }
    }

    /// Sends `client` at server time `secs`.
    fn send(
        &mut self,
        secs: f64,
        client: serde_json::Value,
    ) -> classpulse_writing::offline::Routed {
        self.seq += 1;
        let line = log_line(
            self.seq,
            Timestamp::from_micros((secs * 1e6).round() as i64),
            STUDENT,
            SOURCE,
            &client.to_string(),
        );
        self.router.apply_line(&line).unwrap()
    }

    fn doc_key(doc: &str) -> ScopeKey {
        ScopeKey::from_text(&format!("student:{STUDENT}|doc_id:{doc}"))
    }
}

fn save(doc: &str, commands: serde_json::Value) -> serde_json::Value {
    json!({"event": "google_docs_save", "doc_id": doc, "bundles": [{"commands": commands}]})
}

#[test]
fn time_on_task_caps_gaps_per_document_and_tab() {
    let mut s = Session::new(WritingConfig::default());
    s.send(1000.0, json!({"event": "keystroke", "doc_id": "d1"}));
    s.send(
        1010.0,
        json!({"event": "keystroke", "doc_id": "d1", "tab_id": "t.0"}),
    );
    s.send(
        1100.0,
        json!({"event": "keystroke", "doc_id": "d1", "tab_id": "t.0"}),
    ); // 90 s gap
    s.send(1105.0, json!({"event": "keystroke", "doc_id": "d2"}));
    s.send(1106.0, json!({"event": "keystroke"})); // no document: no per-document reducer
    let d1: &TimeOnTask = s
        .router
        .state("writing.time_on_task", &Session::doc_key("d1"))
        .unwrap();
    assert_eq!(d1.total_time_on_task, 10.0 + 60.0);
    assert_eq!(d1.saved_ts, Some(1100.0));
    let tab_key = ScopeKey::from_text(&format!("student:{STUDENT}|doc_id:d1|tab_id:t.0"));
    let tab: &TimeOnTask = s
        .router
        .state("writing.tab_time_on_task", &tab_key)
        .unwrap();
    assert_eq!(tab.total_time_on_task, 60.0);
    let d2: &TimeOnTask = s
        .router
        .state("writing.time_on_task", &Session::doc_key("d2"))
        .unwrap();
    assert_eq!(d2.total_time_on_task, 0.0);
    let count: &EventCount = s
        .router
        .state("writing.event_count", &ScopeKey::student(STUDENT))
        .unwrap();
    assert_eq!(count.count, 5);
}

#[test]
fn thresholds_and_bins_are_configurable() {
    let mut s = Session::new(WritingConfig {
        time_on_task_threshold_secs: 300.0,
        binned_time_on_task_bin_secs: 60,
        ..WritingConfig::default()
    });
    s.send(50.0, json!({"event": "keystroke", "doc_id": "d1"}));
    s.send(170.0, json!({"event": "keystroke", "doc_id": "d1"}));
    let t: &TimeOnTask = s
        .router
        .state("writing.time_on_task", &Session::doc_key("d1"))
        .unwrap();
    assert_eq!(t.total_time_on_task, 120.0);
    let b: &BinnedTimeOnTask = s
        .router
        .state("writing.binned_time_on_task", &Session::doc_key("d1"))
        .unwrap();
    // 120 s from t=50 in bin 0: 10 s in [0, 60), the rest in [60, 120) (one boundary split).
    assert_eq!(b.binned_time_on_task.get(0), Some(10.0));
    assert_eq!(b.binned_time_on_task.get(60), Some(110.0));
    assert_eq!(b.current_bin, Some(120));
}

#[test]
fn binned_time_on_task_uses_600_second_bins() {
    let mut s = Session::new(WritingConfig::default());
    for secs in [1190.0, 1195.0, 1210.0] {
        s.send(secs, json!({"event": "keystroke", "doc_id": "d1"}));
    }
    let b: &BinnedTimeOnTask = s
        .router
        .state("writing.binned_time_on_task", &Session::doc_key("d1"))
        .unwrap();
    assert_eq!(
        serde_json::to_value(b).unwrap(),
        json!({"saved_ts": 1210.0, "current_bin": 1200,
               "binned_time_on_task": {"600": 10.0, "1200": 10.0}})
    );
}

#[test]
fn reconstruct_applies_saves_and_rejects_malformed_events_whole() {
    let mut s = Session::new(WritingConfig::default());
    s.send(
        1.0,
        save("d1", json!([{"ty": "is", "ibi": 1, "s": "Hi LO"}])),
    );
    let routed = s.send(
        2.0,
        save(
            "d1",
            json!([{"ty": "is", "ibi": 1, "s": "X"}, {"ty": "is", "ibi": 1}]),
        ),
    );
    assert_eq!(routed.errors.len(), 1, "{routed:?}");
    assert_eq!(routed.errors[0].0, "writing.reconstruct");
    s.send(
        3.0,
        save(
            "d1",
            json!([{"ty": "mlti", "mts": [
        {"ty": "ds", "si": 3, "ei": 5}, {"ty": "is", "ibi": 3, "s": "Learning Observer"}]}]),
        ),
    );
    let doc: &Document = s
        .router
        .state("writing.reconstruct", &Session::doc_key("d1"))
        .unwrap();
    assert_eq!(doc.raw_text(), "HiLearning Observer");
    assert_eq!(
        serde_json::to_value(doc).unwrap(),
        json!({"text": "HiLearning Observer", "position": 20,
               "edit_metadata": {"cursor": [6, 3, 20], "length": [5, 2, 19]}})
    );
    // document_history rebuilds.
    s.send(
        4.0,
        json!({"event": "document_history", "doc_id": "d1",
        "history": {"changelog": [[{"ty": "is", "ibi": 1, "s": "fresh"}, 1, "u"]]}}),
    );
    let doc: &Document = s
        .router
        .state("writing.reconstruct", &Session::doc_key("d1"))
        .unwrap();
    assert_eq!(doc.raw_text(), "fresh");
    assert_eq!(doc.edit_metadata().len(), 1);
}

#[test]
fn doc_id_is_derived_from_the_document_url() {
    let mut s = Session::new(WritingConfig::default());
    let url = "https://docs.google.com/document/d/abc123/edit?tab=t.0";
    s.send(
        10.0,
        json!({"event": "keystroke",
        "object": {"id": "abc123", "url": url, "title": "Essay #unit1"}}),
    );
    s.send(
        20.0,
        json!({"event": "document_history",
        "object": {"id": "abc123", "url": url, "title": "Essay #unit1"},
        "history": {"changelog": [[{"ty": "mkch", "d": [[0, "Intro"]]}, 1]]}}),
    );
    // A URL that is not a document: no doc_id, no per-document state.
    s.send(
        30.0,
        json!({"event": "visibility",
        "object": {"id": "home", "url": "https://docs.google.com/document/u/0/"}}),
    );
    let list: &DocumentList = s
        .router
        .state("writing.document_list", &ScopeKey::student(STUDENT))
        .unwrap();
    assert_eq!(
        serde_json::to_value(list).unwrap(),
        json!({"docs": {"abc123": {"title": "Essay #unit1", "last_access": 20.0}}})
    );
    let key = Session::doc_key("abc123");
    let time: &TimeOnTask = s.router.state("writing.time_on_task", &key).unwrap();
    assert_eq!(time.total_time_on_task, 10.0);
    let tabs: &TabList = s.router.state("writing.tab_list", &key).unwrap();
    assert_eq!(
        serde_json::to_value(tabs).unwrap(),
        json!({"tabs": {"t.0": {"tab_id": "t.0", "title": "Intro", "last_accessed": 20.0}}})
    );
    let snapshot = s.router.snapshot();
    let get = |name: &str| {
        snapshot
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        get("writing.last_document"),
        json!({"document_id": "abc123"})
    );
    assert_eq!(
        get("writing.document_tagging"),
        json!({"tags": {"unit1": ["abc123"]}})
    );
    assert_eq!(
        get("writing.document_access_timestamps"),
        json!({"timestamps": {"10000.0": "abc123"}, "last_document": "abc123"})
    );
    assert_eq!(
        get("writing.student_profile"),
        json!({"email": null, "google_id": STUDENT})
    );
    assert!(
        snapshot
            .iter()
            .all(|(_, k, _)| !k.as_str().contains("home"))
    );
}

#[test]
fn replay_is_deterministic() {
    let events = [
        (1.0, save("d1", json!([{"ty": "is", "ibi": 1, "s": "abc"}]))),
        (
            2.5,
            json!({"event": "keystroke", "doc_id": "d1", "tab_id": "t.1"}),
        ),
        (
            70.0,
            save("d1", json!([{"ty": "zz"}, {"ty": "ds", "si": 9, "ei": 10}])),
        ),
    ];
    let run = || {
        let mut s = Session::new(WritingConfig::default());
        for (t, e) in &events {
            s.send(*t, e.clone());
        }
        serde_json::to_string(
            &s.router
                .snapshot()
                .into_iter()
                .map(|(n, k, v)| (n, k.to_string(), v))
                .collect::<Vec<_>>(),
        )
        .unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn summary_from_reducer_states() {
    let mut s = Session::new(WritingConfig::default());
    s.send(
        100.0,
        save(
            "d1",
            json!([{"ty": "is", "ibi": 1, "s": "The quick brown fox"}]),
        ),
    );
    s.send(
        130.0,
        save("d1", json!([{"ty": "is", "ibi": 20, "s": " jumps"}])),
    );
    let key = Session::doc_key("d1");
    let inputs = SummaryInputs {
        doc_id: Some("d1"),
        document: s.router.state("writing.reconstruct", &key),
        time_on_task: s.router.state("writing.time_on_task", &key),
        now_secs: 150.0,
        activity_threshold_secs: WritingConfig::default().activity_threshold_secs,
    };
    let summary = StudentSummary::build(inputs);
    assert_eq!(summary.word_count, 5);
    assert_eq!(summary.character_count, 25);
    assert_eq!(summary.time_on_task_secs, 30.0);
    assert_eq!(summary.status, Activity::Active);
    assert_eq!(summary.excerpt, "The quick brown fox jumps❙");
}

#[test]
fn module_lists_its_reducers_with_unique_names() {
    let module = WritingModule::default();
    let names: Vec<String> = module
        .erased_reducers()
        .iter()
        .map(|r| r.name().to_owned())
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
    assert_eq!(names.len(), 11);
    assert!(names.iter().all(|n| n.starts_with("writing.")));
}
