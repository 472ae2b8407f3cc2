//! The runtime on Redis, in process, over real sockets: Redis killed under load and brought
//! back (from its append-only file, and empty) — the node keeps acknowledging, says `degraded`,
//! catches up, and ends with exactly the state a replay of its log gives; and two nodes share one
//! timer service through the lease.

mod common;

use classpulse_core::clock::{ManualClock, SharedClock};
use classpulse_core::config::{Config, KvsConfig, PubSubConfig, RedisKvsConfig, RedisPubSubConfig};
use classpulse_core::event::Timestamp;
use classpulse_core::testing::{RedisOptions, owned_redis_or_skip, redis_or_skip, unique_prefix};
use common::modules::{SOURCE, TestModule};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn redis_config(url: &str, prefix: &str, node: &str) -> Config {
    let mut config = Config::default();
    config.server.node_id = node.to_owned();
    config.kvs = KvsConfig::Redis(RedisKvsConfig {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        timeout_ms: 500,
        lease_secs: 2,
        ..RedisKvsConfig::default()
    });
    config.pubsub = PubSubConfig::Redis(RedisPubSubConfig {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        capacity: 1024,
    });
    config
}

async fn status(s: &TestServer, path: &str) -> (u16, String) {
    http_get(&s.http(path)).await
}

/// Waits until `path` answers `code` with a body containing `text` (generously: reconnect
/// backoff is up to 5 s).
async fn wait_status(s: &TestServer, path: &str, code: u16, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (got, body) = status(s, path).await;
        if got == code && body.contains(text) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One student sending events in bursts until told to stop; returns how many were acked.
async fn student(url: String, user: String, stop: Arc<tokio::sync::Notify>) -> u64 {
    let mut ws = connect(&url).await;
    send_json(&mut ws, &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": user, "ack": true}})).await;
    let mut sent = 0u64;
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        for _ in 0..5 {
            send_json(&mut ws, &json!({"event": format!("k{}", sent % 7)})).await;
            sent += 1;
        }
        tokio::select! {
            () = &mut stopped => break,
            () = tokio::time::sleep(Duration::from_millis(25)) => {}
        }
    }
    loop {
        let ack = recv_status(&mut ws, "ack", Duration::from_secs(30))
            .await
            .expect("every event is acknowledged, Redis or not");
        if ack["count"] == sent {
            return sent;
        }
    }
}

async fn outage(aof: bool) {
    let name = if aof {
        "redis_killed_under_load_comes_back_from_its_aof"
    } else {
        "redis_killed_under_load_comes_back_empty"
    };
    let Some(mut redis) = owned_redis_or_skip(
        name,
        RedisOptions {
            aof,
            cluster: false,
        },
    ) else {
        return;
    };
    let dir = TempDir::new("outage");
    let prefix = unique_prefix("outage");
    let s = TestServer::start(
        redis_config(&redis.url(), &prefix, "n1"),
        dir.path(),
        vec![Arc::new(TestModule)],
        None,
    )
    .await;
    assert_eq!(status(&s, "/healthz").await, (200, "ok\n".into()));

    let users: Vec<String> = (0..6).map(|i| format!("out{i}")).collect();
    let stop = Arc::new(tokio::sync::Notify::new());
    let tasks: Vec<_> = users
        .iter()
        .map(|u| tokio::spawn(student(s.ws_url(), u.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.kill();
    // Still accepting and logging; the state store is reported missing.
    wait_status(&s, "/readyz", 503, "state store").await;
    let (code, body) = status(&s, "/healthz").await;
    assert_eq!(code, 200);
    assert!(body.starts_with("degraded"), "{body}");
    let before = s.runtime.writer.next_seq();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        s.runtime.writer.next_seq() > before + 50,
        "events keep being logged while Redis is down"
    );
    redis.restart(!aof).expect("redis comes back");
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.notify_waiters();
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    s.settle().await;
    wait_status(&s, "/readyz", 200, "ready").await;
    assert_eq!(status(&s, "/healthz").await, (200, "ok\n".into()));

    // Every acknowledged event is in the state, once.
    let mut states = Vec::new();
    for (user, acked) in users.iter().zip(&acked) {
        let (code, state) = s
            .get_as_admin(&format!("/api/state/tc-testcase-{user}"))
            .await;
        assert_eq!(code, 200);
        assert_eq!(
            state["test.count"][format!("student:tc-testcase-{user}")]["count"],
            *acked,
            "{user}"
        );
        states.push(state);
    }
    s.stop().await;

    // And it is exactly what a replay of the log gives (a memory store rebuilt from it).
    let replay = TestServer::start(
        Config::default(),
        dir.path(),
        vec![Arc::new(TestModule)],
        None,
    )
    .await;
    for (user, state) in users.iter().zip(&states) {
        let (_, replayed) = replay
            .get_as_admin(&format!("/api/state/tc-testcase-{user}"))
            .await;
        // The memory store also lists states no event changed, at their defaults; Redis
        // stores only changed ones: compare the states that changed.
        assert_eq!(replayed["test.count"], state["test.count"], "{user}");
        assert!(
            state.get("test.alarm").is_none(),
            "{user}: no alarm state was changed"
        );
    }
    replay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_comes_back_from_its_aof() {
    outage(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_comes_back_empty() {
    outage(false).await;
}

async fn rang(s: &TestServer, user: &str) -> Value {
    let (_, state) = s
        .get_as_admin(&format!("/api/state/tc-testcase-{user}"))
        .await;
    state["test.alarm"][format!("student:tc-testcase-{user}")]["rang"].clone()
}

async fn arm(s: &TestServer, user: &str) {
    let mut ws = connect(&s.ws_url()).await;
    send_json(&mut ws, &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": user, "ack": true}})).await;
    send_json(&mut ws, &json!({"event": "arm"})).await;
    recv_status(&mut ws, "ack", T).await.expect("armed");
    s.settle().await;
}

async fn wait_rang(s: &TestServer, user: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while rang(s, user).await != n {
        assert!(
            Instant::now() < deadline,
            "{user} rang {} times, not {n}",
            rang(s, user).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rings(s: &TestServer) -> usize {
    s.log().iter().filter(|l| l["timer"].is_string()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_runs_the_timers_and_another_takes_over_when_it_stops() {
    let Some(redis) =
        redis_or_skip("one_node_runs_the_timers_and_another_takes_over_when_it_stops")
    else {
        return;
    };
    let prefix = unique_prefix("lease");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let shared: SharedClock = Arc::new(clock.clone());
    let (da, db) = (TempDir::new("lease-a"), TempDir::new("lease-b"));
    let a = TestServer::start(
        redis_config(&redis.url(), &prefix, "a"),
        da.path(),
        vec![Arc::new(TestModule)],
        Some(shared.clone()),
    )
    .await;
    let b = TestServer::start(
        redis_config(&redis.url(), &prefix, "b"),
        db.path(),
        vec![Arc::new(TestModule)],
        Some(shared.clone()),
    )
    .await;
    // Armed through the node that does not hold the lease (a started first and took it).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    arm(&b, "t1").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    clock.advance(Duration::from_secs(11));
    wait_rang(&b, "t1", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.settle().await;
    b.settle().await;
    assert_eq!(
        rings(&a) + rings(&b),
        1,
        "the timer fired once, by one node"
    );
    assert_eq!(rings(&a), 1, "the lease holder fired it");

    // The holder stops; the other node takes the timers over.
    a.stop().await;
    arm(&b, "t2").await;
    clock.advance(Duration::from_secs(11));
    wait_rang(&b, "t2", 1).await;
    b.settle().await;
    assert_eq!(rings(&b), 1);
    assert_eq!(
        rang(&b, "t1").await,
        1,
        "the first timer did not fire again"
    );
    b.stop().await;
}
