//! Two real `classpulse serve` nodes on one Redis (which the test starts): students whose
//! events are split randomly across both nodes, concurrently, end with exactly every event
//! counted, as seen from either node; a teacher's dashboard on one node is pushed what a
//! student writes through the other; a replay of both nodes' logs, merged under their order
//! journals, rebuilds a document written through both in its live order.

mod common;

use classpulse_core::testing::{redis_or_skip, unique_prefix};
use common::*;
use futures_util::SinkExt;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const STUDENTS: usize = 50;
const EVENTS: u64 = 1000;

fn node_config(dir: &Path, node: &str, url: &str, prefix: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{node}.toml"));
    std::fs::write(
        &path,
        format!(
            "[server]\nnode_id = \"{node}\"\n\n[ingest]\nmax_events_per_second = 0\n\n\
             [kvs]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n\n\
             [pubsub]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n"
        ),
    )
    .unwrap();
    path
}

/// One student: a socket to each node, each event sent to one of them at random.
async fn student(n: usize, urls: [String; 2]) -> [u64; 2] {
    let user = format!("split{n}");
    let mut sockets = Vec::new();
    for url in &urls {
        let mut ws = connect(url).await;
        send_json(&mut ws, &json!({"event": "lock_fields", "fields": {"source": "org.example", "user_id": user, "ack": true}})).await;
        sockets.push(ws);
    }
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (n as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut sent = [0u64; 2];
    for i in 0..EVENTS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let side = (rng % 2) as usize;
        let frame = json!({"event": "tick", "n": i}).to_string();
        sockets[side]
            .feed(Message::Text(frame.into()))
            .await
            .unwrap();
        sent[side] += 1;
        if i % 25 == 24 {
            for ws in &mut sockets {
                ws.flush().await.unwrap();
            }
        }
    }
    for (side, ws) in sockets.iter_mut().enumerate() {
        ws.flush().await.unwrap();
        if sent[side] == 0 {
            continue;
        }
        loop {
            let ack = recv_status(ws, "ack", Duration::from_secs(60))
                .await
                .expect("acknowledged");
            if ack["count"] == sent[side] {
                break;
            }
        }
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_redis_count_every_event_of_students_split_across_them() {
    let Some(redis) = redis_or_skip("two_nodes_on_one_redis_count_every_event") else {
        return;
    };
    let prefix = unique_prefix("nodes");
    let (da, db) = (TempDir::new("node-a"), TempDir::new("node-b"));
    let ca = node_config(da.path(), "a", &redis.url(), &prefix);
    let cb = node_config(db.path(), "b", &redis.url(), &prefix);
    let a = Server::start(da.path(), &["--config", ca.to_str().unwrap()]);
    let b = Server::start(db.path(), &["--config", cb.to_str().unwrap()]);

    let tasks: Vec<_> = (0..STUDENTS)
        .map(|n| tokio::spawn(student(n, [a.ws_url(), b.ws_url()])))
        .collect();
    let mut per_node = [0u64; 2];
    for t in tasks {
        let sent = t.await.unwrap();
        per_node[0] += sent[0];
        per_node[1] += sent[1];
    }
    assert!(
        per_node[0] > 10_000 && per_node[1] > 10_000,
        "both nodes took a share: {per_node:?}"
    );

    // Once both have applied everything, every student's count is exactly 1,000 on both.
    let deadline = Instant::now() + Duration::from_secs(120);
    for n in 0..STUDENTS {
        for node in [&a, &b] {
            let path = format!("/api/state/tc-testcase-split{n}");
            loop {
                let (code, state) = node.get_as_admin(&path).await;
                assert!(code == 200 || code == 404, "GET {path}: {code}");
                let count = &state["activity.event_count"][format!("student:tc-testcase-split{n}")]
                    ["count"];
                if *count == EVENTS {
                    break;
                }
                assert!(
                    Instant::now() < deadline && count.as_u64().is_none_or(|c| c < EVENTS),
                    "student {n} on {}: {count}",
                    node.addr
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    for node in [&a, &b] {
        let (code, body) = http_get(&node.http("/readyz")).await;
        assert_eq!((code, body.as_str()), (200, "ready\n"));
    }
    // Each node logged exactly what it accepted.
    assert_eq!(a.log().len() as u64, per_node[0]);
    assert_eq!(b.log().len() as u64, per_node[1]);
    a.stop();
    b.stop();

    // Students whose events alternate between nodes leave hand-overs in the order journals:
    // where one node's updates of a key followed the other's.
    let mut handovers = 0;
    for (dir, node, other) in [(&da, "a", "b"), (&db, "b", "a")] {
        let journal = dir.path().join("data/order").join(format!("{node}.jsonl"));
        for line in std::fs::read_to_string(&journal).unwrap().lines() {
            let h: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(h["node"], node);
            assert_eq!(h["after"][0][0], other, "{line}");
            handovers += 1;
        }
    }
    assert!(handovers > 100, "{handovers} hand-overs recorded");

    // Both logs replayed together, merged under those journals, count every event once.
    let work = TempDir::new("nodes-replay");
    let out = work.path().join("merged.snapshot");
    let (ok, stdout, stderr) = run_cli(
        work.path(),
        &[
            "replay",
            "--data-dir",
            work.path().join("data").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            da.path().join("data/log").to_str().unwrap(),
            db.path().join("data/log").to_str().unwrap(),
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    eprintln!("{stdout}");
    assert!(
        stdout.contains(&format!("replayed {} events", per_node[0] + per_node[1])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{handovers} hand-overs in the order journals")),
        "{stdout}"
    );
    let counts = snapshot_states(&out);
    for n in 0..STUDENTS {
        let key = (
            "activity.event_count".to_owned(),
            format!("student:tc-testcase-split{n}"),
        );
        assert_eq!(counts[&key]["count"], EVENTS, "student {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_on_node_b_is_pushed_an_event_ingested_on_node_a() {
    let Some(redis) = redis_or_skip("a_dashboard_on_node_b_is_pushed_an_event_ingested_on_node_a")
    else {
        return;
    };
    const PASSWORD: &str = "correct-horse-battery";
    const T: Duration = Duration::from_secs(20);
    let prefix = unique_prefix("push");
    let (da, db) = (TempDir::new("push-a"), TempDir::new("push-b"));
    // Both nodes share the roster file, the accounts and the session secret, as a deployment
    // behind one load balancer does.
    let mut configs = Vec::new();
    for (dir, node) in [(&da, "a"), (&db, "b")] {
        let accounts = dir.path().join("accounts.toml");
        add_user(dir.path(), &accounts, "t.a", "Teacher A", PASSWORD, false);
        std::fs::write(
            dir.path().join("roster.toml"),
            "[[course]]\nid = \"A\"\nname = \"Course A\"\nmembers = [\n\
             \x20 { user_id = \"t.a\", role = \"teacher\" },\n\
             \x20 { user_id = \"tc-testcase-ann\", name = \"Ann\", role = \"student\" },\n]\n",
        )
        .unwrap();
        let config = node_config(dir.path(), node, &redis.url(), &prefix);
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(
            "\n[roster]\nfiles = [\"roster.toml\"]\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
             [sessions]\nsecret = \"a-session-secret-shared-by-both-nodes\"\n",
        );
        std::fs::write(&config, text).unwrap();
        configs.push(config);
    }
    let a = Server::start(da.path(), &["--config", configs[0].to_str().unwrap()]);
    let b = Server::start(db.path(), &["--config", configs[1].to_str().unwrap()]);

    // The teacher watches course A on node B.
    let cookie = login(&b, "t.a", PASSWORD).await;
    let mut dash = dashboard_socket(&b, Some(&cookie), None, None)
        .await
        .unwrap();
    assert_eq!(recv(&mut dash, T).await.unwrap()["type"], "welcome");
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "a", "course": "A", "view": "writing.class"}),
    )
    .await;
    let snapshot = recv_type(&mut dash, "snapshot", T).await.unwrap();
    assert_eq!(snapshot["students"]["tc-testcase-ann"]["word_count"], 0);

    // Ann writes through node A; each acknowledged save reaches node B's dashboard.
    let mut ann = connect(&a.ws_url()).await;
    send_json(
        &mut ann,
        &json!({"event": "lock_fields", "fields": {
            "source": "org.mitros.writing_analytics", "user_id": "ann", "ack": true}}),
    )
    .await;
    for (text, ibi, words) in [("Rivers", 1, 1u64), (" carve deep", 7, 3)] {
        let sent = Instant::now();
        send_json(
            &mut ann,
            &json!({
                "event": "google_docs_save", "doc_id": "essay",
                "url": "https://docs.google.com/document/d/essay/save",
                "bundles": [{"commands": [{"ty": "is", "ibi": ibi, "s": text}]}],
            }),
        )
        .await;
        recv_status(&mut ann, "ack", T).await.expect("acknowledged");
        loop {
            let m = recv(&mut dash, T)
                .await
                .unwrap_or_else(|| panic!("node B never showed {words} words"));
            assert!(m["type"] == "update" || m["type"] == "snapshot", "{m}");
            if m["students"]["tc-testcase-ann"]["word_count"] == words {
                break;
            }
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "{:?}",
            sent.elapsed()
        );
    }
    // Node B logged none of it: the update came through Redis.
    assert!(
        b.log()
            .iter()
            .all(|line| line["source"] != "org.mitros.writing_analytics")
    );
    a.stop();
    b.stop();
}

/// Every state line of a snapshot file, by `(reducer, scope key)`.
fn snapshot_states(path: &Path) -> std::collections::BTreeMap<(String, String), serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("r").is_some())
        .map(|v| {
            let key = (
                v["r"].as_str().unwrap().to_owned(),
                v["k"].as_str().unwrap().to_owned(),
            );
            (key, v["s"].clone())
        })
        .collect()
}

/// A copy of a node's log directory whose server times run `skew_secs` ahead, as a node with
/// a fast clock would have written it.
fn skewed_copy(log: &Path, to: &Path, skew_secs: f64) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(log).unwrap() {
        let path = entry.unwrap().path();
        let mut out = String::new();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let at = line.find("\"time\":").unwrap() + "\"time\":".len();
            let end = at + line[at..].find(',').unwrap();
            let time: f64 = line[at..end].parse().unwrap();
            out.push_str(&format!(
                "{}{:.6}{}\n",
                &line[..at],
                time + skew_secs,
                &line[end..]
            ));
        }
        std::fs::write(to.join(path.file_name().unwrap()), out).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_both_nodes_logs_rebuilds_a_document_written_through_both_in_live_order() {
    let Some(redis) = redis_or_skip("a_replay_of_both_nodes_logs_rebuilds_a_document") else {
        return;
    };
    const T: Duration = Duration::from_secs(20);
    const SAVES: usize = 12;
    let prefix = unique_prefix("merge");
    let (da, db) = (TempDir::new("merge-a"), TempDir::new("merge-b"));
    let ca = node_config(da.path(), "a", &redis.url(), &prefix);
    let cb = node_config(db.path(), "b", &redis.url(), &prefix);
    let a = Server::start(da.path(), &["--config", ca.to_str().unwrap()]);
    let b = Server::start(db.path(), &["--config", cb.to_str().unwrap()]);

    // Ed's essay, each save appending a word, sent through node A, then B, then A…; each save
    // is reduced before the next is sent, so the live order is the order sent.
    let mut sockets = Vec::new();
    for node in [&a, &b] {
        let mut ws = connect(&node.ws_url()).await;
        send_json(
            &mut ws,
            &json!({"event": "lock_fields", "fields": {
            "source": "org.mitros.writing_analytics", "user_id": "ed", "ack": true}}),
        )
        .await;
        sockets.push(ws);
    }
    let text_of = |state: &serde_json::Value| {
        state["writing.reconstruct"]["student:tc-testcase-ed|doc_id:essay"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let mut expected = String::new();
    for i in 0..SAVES {
        let word = format!("w{i:02} ");
        let ibi = expected.chars().count() + 1;
        expected.push_str(&word);
        let ws = &mut sockets[i % 2];
        send_json(
            ws,
            &json!({
                "event": "google_docs_save", "doc_id": "essay",
                "url": "https://docs.google.com/document/d/essay/save",
                "bundles": [{"commands": [{"ty": "is", "ibi": ibi, "s": word}]}],
            }),
        )
        .await;
        recv_status(ws, "ack", T).await.expect("acknowledged");
        let deadline = Instant::now() + T;
        loop {
            let (_, state) = a.get_as_admin("/api/state/tc-testcase-ed").await;
            if text_of(&state).replace('\0', "") == expected {
                break;
            }
            assert!(Instant::now() < deadline, "save {i} never reduced: {state}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (code, live) = b.get_as_admin("/api/state/tc-testcase-ed").await;
    assert_eq!(code, 200);
    let live_text = text_of(&live);
    a.stop();
    b.stop();
    // Every save after the first was a hand-over between the nodes.
    let journal = |dir: &TempDir, node: &str| {
        std::fs::read_to_string(dir.path().join(format!("data/order/{node}.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("writing.reconstruct/"))
            .count()
    };
    assert_eq!(journal(&da, "a") + journal(&db, "b"), SAVES - 1);

    let work = TempDir::new("merge-replay");
    let replay = |name: &str, logs: &[&Path], extra: &[&str]| {
        let out = work.path().join(format!("{name}.snapshot"));
        let data = work.path().join(name);
        let mut args = vec![
            "replay".to_owned(),
            "--data-dir".to_owned(),
            data.to_str().unwrap().to_owned(),
            "--out".to_owned(),
            out.to_str().unwrap().to_owned(),
        ];
        args.extend(logs.iter().map(|p| p.to_str().unwrap().to_owned()));
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, stdout, stderr) = run_cli(work.path(), &args);
        assert!(ok, "replay {name}: {stdout}{stderr}");
        (snapshot_states(&out), stdout, stderr)
    };
    let (log_a, log_b) = (da.path().join("data/log"), db.path().join("data/log"));

    // Both nodes' logs (their journals beside them, in each data directory): every state of
    // Ed's is the live one, byte for byte.
    let (states, out, _) = replay("both", &[&log_a, &log_b], &[]);
    assert!(out.contains("merged 2 nodes' logs"), "{out}");
    assert!(out.contains("fallbacks 0"), "{out}");
    let live = live.as_object().unwrap();
    let mut compared = 0;
    for (reducer, keys) in live {
        for (key, state) in keys.as_object().unwrap() {
            let rebuilt = states.get(&(reducer.clone(), key.clone()));
            assert!(
                rebuilt == Some(state),
                "{reducer} {key}: rebuilt {rebuilt:?}, live {state}"
            );
            compared += 1;
        }
    }
    // No other state of Ed's, but those still empty (the memory store keeps a state its
    // reducer looked at and left as it was; Redis stores only changed ones).
    fn empty(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(m) => m.values().all(empty),
            serde_json::Value::Array(a) => a.is_empty(),
            v => v.is_null(),
        }
    }
    for ((reducer, key), state) in &states {
        if key.starts_with("student:tc-testcase-ed")
            && live.get(reducer).and_then(|r| r.get(key)).is_none()
        {
            assert!(empty(state), "{reducer} {key} is not live: {state}");
        }
    }
    assert!(compared >= 10, "{compared} states compared");

    // Node B's clock ran 1000 s ahead: the journals still give the live text…
    let skewed = work.path().join("skewed");
    skewed_copy(&log_b, &skewed.join("b/log"), 1000.0);
    std::fs::create_dir_all(skewed.join("a")).unwrap();
    skewed_copy(&log_a, &skewed.join("a/log"), 0.0);
    let journals_b = db.path().join("data/order");
    let (states, out, _) = replay(
        "skewed",
        &[&log_a, &skewed.join("b/log")],
        &["--order", journals_b.to_str().unwrap()],
    );
    let key = (
        "writing.reconstruct".to_owned(),
        "student:tc-testcase-ed|doc_id:essay".to_owned(),
    );
    assert_eq!(states[&key]["text"], live_text.as_str(), "{out}");
    // …which the clocks alone do not: without the journals all of B's saves come last.
    let (states, out, err) = replay(
        "clocks",
        &[&skewed.join("a/log"), &skewed.join("b/log")],
        &[],
    );
    assert!(err.contains("no order journals found"), "{err}");
    assert!(out.contains("0 hand-overs"), "{out}");
    let by_clock = states[&key]["text"].as_str().unwrap().replace('\0', "");
    assert_ne!(by_clock, expected);
    assert_eq!(
        by_clock.len(),
        expected.len(),
        "every save is in it: {by_clock:?}"
    );
}
