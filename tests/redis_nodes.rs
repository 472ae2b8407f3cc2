//! Two real `classpulse serve` nodes on one Redis (which the test starts): students whose
//! events are split randomly across both nodes, concurrently, end with exactly every event
//! counted, as seen from either node; a teacher's dashboard on one node is pushed what a
//! student writes through the other.

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
