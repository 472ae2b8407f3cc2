//! Learning Observer's own clients, replayed frame by frame from recordings over real
//! WebSockets to the real binary: the auth answers, the events accepted per student, and the
//! log holding every event, in order, as Learning Observer's own study log has it.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Sends every frame of a recording on one connection; returns the server's replies.
async fn replay(server: &Server, frames: &Path) -> Vec<Value> {
    let mut ws = connect(&server.ws_url()).await;
    for frame in jsonl(frames) {
        send(&mut ws, &frame).await;
    }
    let mut replies = Vec::new();
    // Read until the server closes (after `terminate`) or goes quiet.
    while let Some(v) = recv(&mut ws, Duration::from_millis(700)).await {
        replies.push(v);
    }
    replies
}

fn without_auth(mut client: Value) -> Value {
    client.as_object_mut().unwrap().remove("auth");
    client
}

/// The log's client events for a student equal Learning Observer's study log, in order.
fn assert_log_matches_study(log: &[Value], student: &str, study: &Path) {
    let ours: Vec<Value> = log
        .iter()
        .filter(|l| l["auth"]["safe_user_id"] == student)
        .map(|l| l["client"].clone())
        .collect();
    let theirs: Vec<Value> = jsonl(study)
        .iter()
        .map(|l| without_auth(serde_json::from_str::<Value>(l).unwrap()["client"].clone()))
        .collect();
    assert_eq!(ours.len(), theirs.len(), "events logged for {student}");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            a, b,
            "event {i} of {student} differs from Learning Observer's"
        );
    }
    let seqs: Vec<u64> = log.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "log sequence is dense and ordered"
    );
}

async fn event_count(server: &Server, student: &str) -> Value {
    let (status, state) = server.get_as_admin(&format!("/api/state/{student}")).await;
    assert_eq!(status, 200, "state for {student}");
    state["activity.event_count"][format!("student:{student}")]["count"].clone()
}

#[tokio::test]
async fn stream_writing_sessions_replay_exactly() {
    let dir = TempDir::new("conf-stream");
    let server = Server::start(dir.path(), &[]);
    let base = fixtures().join("stream_writing_session");
    let (alice_frames, bob_frames) = (
        base.join("alice.received.jsonl"),
        base.join("bob.received.jsonl"),
    );
    let (alice, bob) = tokio::join!(replay(&server, &alice_frames), replay(&server, &bob_frames));
    assert_eq!(
        alice.first(),
        Some(&json!({"status": "auth", "user_id": "testcase-alice"}))
    );
    assert_eq!(
        bob.first(),
        Some(&json!({"status": "auth", "user_id": "testcase-bob"}))
    );
    assert!(
        alice.iter().chain(&bob).all(|r| r["status"] != "error"),
        "{alice:?} {bob:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(event_count(&server, "tc-testcase-alice").await, 368);
    assert_eq!(event_count(&server, "tc-testcase-bob").await, 255);
    let log = server.log();
    assert_log_matches_study(&log, "tc-testcase-alice", &base.join("alice.study.jsonl"));
    assert_log_matches_study(&log, "tc-testcase-bob", &base.join("bob.study.jsonl"));
    server.stop();
}

#[tokio::test]
async fn lo_event_session_with_reconnect_replays_exactly() {
    let dir = TempDir::new("conf-loevent");
    let server = Server::start(dir.path(), &[]);
    let base = fixtures().join("lo_event_node_session");
    let first = replay(&server, &base.join("received_conn1.jsonl")).await;
    assert_eq!(
        first,
        vec![json!({"status": "auth", "user_id": "testcase-lo-event-node-driver"})],
        "one auth answer, then the server closes on terminate"
    );
    let second = replay(&server, &base.join("received_conn2_after_reconnect.jsonl")).await;
    assert_eq!(
        second,
        vec![json!({"status": "auth", "user_id": "testcase-lo-event-node-driver"})]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let student = "tc-testcase-lo-event-node-driver";
    assert_eq!(event_count(&server, student).await, 8);
    assert_log_matches_study(&server.log(), student, &base.join("session.study.jsonl"));
    server.stop();
}

/// Learning Observer's `Internal,writing_observer.writing_analysis.<reducer>,…STUDENT:<id>` entry.
fn lo_state(kvs: &Value, reducer: &str, doc: Option<&str>, student: &str) -> Value {
    let key = match doc {
        Some(doc) => format!(
            "Internal,writing_observer.writing_analysis.{reducer},EventField.doc_id:{doc},STUDENT:{student}"
        ),
        None => format!("Internal,writing_observer.writing_analysis.{reducer},STUDENT:{student}"),
    };
    kvs["kvs"][&key].clone()
}

/// After replaying the frames over sockets, the writing module's state equals what Learning
/// Observer computed: the final texts exactly, positions, cursor and length series, and the
/// document lists.
async fn assert_writing_state(
    server: &Server,
    student: &str,
    doc: &str,
    kvs_file: &Path,
    texts_file: &Path,
) {
    let kvs: Value = serde_json::from_str(&std::fs::read_to_string(kvs_file).unwrap()).unwrap();
    let texts: Value = serde_json::from_str(&std::fs::read_to_string(texts_file).unwrap()).unwrap();
    let (_, state) = server.get_as_admin(&format!("/api/state/{student}")).await;
    let ours = &state["writing.reconstruct"][format!("student:{student}|doc_id:{doc}")];
    let theirs = lo_state(&kvs, "reconstruct", Some(doc), student);
    let expected_text = texts[format!("Internal,writing_observer.writing_analysis.reconstruct,EventField.doc_id:{doc},STUDENT:{student}")]
        .as_str()
        .unwrap();
    assert_eq!(
        ours["text"].as_str().unwrap().replace('\0', ""),
        expected_text,
        "final text of {student}"
    );
    assert_eq!(ours["text"], theirs["text"]);
    assert_eq!(ours["position"], theirs["position"]);
    assert_eq!(
        ours["edit_metadata"], theirs["edit_metadata"],
        "cursor and length series"
    );
    let doc_list = &state["writing.document_list"][format!("student:{student}")];
    let their_list = lo_state(&kvs, "document_list", None, student);
    let names = |v: &Value| {
        v["docs"]
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
    };
    assert_eq!(names(doc_list), names(&their_list), "document lists");
    assert_eq!(
        state["writing.last_document"][format!("student:{student}")],
        lo_state(&kvs, "last_document", None, student)
    );
}

#[tokio::test]
async fn writing_state_equals_learning_observers() {
    let dir = TempDir::new("conf-writing");
    let server = Server::start(dir.path(), &[]);
    let stream = fixtures().join("stream_writing_session");
    let node = fixtures().join("lo_event_node_session");
    for file in [
        stream.join("alice.received.jsonl"),
        stream.join("bob.received.jsonl"),
        node.join("received_conn1.jsonl"),
        node.join("received_conn2_after_reconnect.jsonl"),
    ] {
        replay(&server, &file).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_writing_state(
        &server,
        "tc-testcase-alice",
        "doc-alice-1",
        &stream.join("alice.offline_replay_kvs.json"),
        &stream.join("alice.final_texts.json"),
    )
    .await;
    assert_writing_state(
        &server,
        "tc-testcase-bob",
        "doc-bob-1",
        &stream.join("bob.offline_replay_kvs.json"),
        &stream.join("bob.final_texts.json"),
    )
    .await;
    assert_writing_state(
        &server,
        "tc-testcase-lo-event-node-driver",
        "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
        &node.join("session.offline_replay_kvs.json"),
        &node.join("session.final_texts.json"),
    )
    .await;
    server.stop();
}
