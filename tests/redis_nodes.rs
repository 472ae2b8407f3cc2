//! Two real `classpulse serve` nodes on one Redis (which the test starts): students whose
//! events are split randomly across both nodes, concurrently, end with exactly every event
//! counted, as seen from either node.

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
