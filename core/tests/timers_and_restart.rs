//! Durable timers and restarts: a timer fires through the log, survives a restart, fires at
//! start-up when it fell due while the server was down, and is never fired twice; state after
//! a restart equals state before it.

mod common;

use classpulse_core::clock::{Clock, ManualClock, SharedClock};
use classpulse_core::config::Config;
use classpulse_core::event::Timestamp;
use common::modules::{SOURCE, TestModule};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

async fn start(dir: &TempDir, clock: &ManualClock) -> TestServer {
    let clock: SharedClock = Arc::new(clock.clone());
    TestServer::start(
        Config::default(),
        dir.path(),
        vec![Arc::new(TestModule)],
        Some(clock),
    )
    .await
}

async fn alarm_state(s: &TestServer, user: &str) -> Value {
    let (_, state) = s.get_as_admin(&format!("/api/state/{user}")).await;
    state["test.alarm"][format!("student:{user}")].clone()
}

async fn arm(s: &TestServer, user: &str) {
    let mut ws = connect(&s.ws_url()).await;
    send_json(&mut ws, &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": user, "ack": true}})).await;
    send_json(&mut ws, &json!({"event": "arm"})).await;
    recv_status(&mut ws, "ack", T).await.expect("armed");
    s.settle().await;
}

async fn wait_rang(s: &TestServer, user: &str, n: u64) -> Value {
    for _ in 0..100 {
        let st = alarm_state(s, user).await;
        if st["rang"] == n {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "alarm for {user} did not ring {n} times: {}",
        alarm_state(s, user).await
    );
}

#[tokio::test]
async fn a_timer_fires_through_the_log_at_its_time() {
    let dir = TempDir::new("timer");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let s = start(&dir, &clock).await;
    arm(&s, "t1").await;
    clock.advance(Duration::from_millis(9_999));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        alarm_state(&s, "tc-testcase-t1").await["rang"],
        0,
        "not before its time"
    );
    clock.advance(Duration::from_millis(1));
    let st = wait_rang(&s, "tc-testcase-t1", 1).await;
    assert_eq!(st["rang_at"][0], json!(1_800_000_010_000_000i64));
    let fired: Vec<_> = s
        .log()
        .into_iter()
        .filter(|l| l.get("timer").is_some())
        .collect();
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0]["auth"]["safe_user_id"], "tc-testcase-t1",
        "the fired event carries the arming identity"
    );
    assert_eq!(s.runtime.timers.scheduled(), 0);
    s.stop().await;
}

#[tokio::test]
async fn a_timer_due_while_the_server_was_down_fires_at_start_up_once() {
    let dir = TempDir::new("timer-restart");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let s = start(&dir, &clock).await;
    arm(&s, "t2").await;
    s.stop().await;

    clock.advance(Duration::from_secs(60));
    let s = start(&dir, &clock).await;
    let st = wait_rang(&s, "tc-testcase-t2", 1).await;
    assert_eq!(st["armed"], 1, "replay restored the state");
    s.stop().await;

    // A third start replays the fired event and does not fire again.
    let s = start(&dir, &clock).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alarm_state(&s, "tc-testcase-t2").await["rang"], 1);
    let fired = s
        .log()
        .into_iter()
        .filter(|l| l.get("timer").is_some())
        .count();
    assert_eq!(fired, 1, "fired exactly once across restarts");
    assert_eq!(s.runtime.timers.scheduled(), 0);
    s.stop().await;
}

#[tokio::test]
async fn a_pending_timer_survives_a_restart_and_fires_on_time() {
    let dir = TempDir::new("timer-pending");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let s = start(&dir, &clock).await;
    arm(&s, "t3").await;
    s.stop().await;
    let s = start(&dir, &clock).await;
    assert_eq!(s.runtime.timers.scheduled(), 1, "rebuilt from state");
    clock.advance(Duration::from_secs(10));
    wait_rang(&s, "tc-testcase-t3", 1).await;
    s.stop().await;
}

#[tokio::test]
async fn state_after_a_restart_equals_state_before_and_nothing_is_applied_twice() {
    let dir = TempDir::new("restart");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let s = start(&dir, &clock).await;
    for user in ["r1", "r2", "r3"] {
        let mut ws = connect(&s.ws_url()).await;
        send_json(&mut ws, &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": user, "ack": true}})).await;
        for i in 0..50 {
            send_json(&mut ws, &json!({"event": format!("k{}", i % 3)})).await;
            clock.advance(Duration::from_millis(700));
        }
        loop {
            let ack = recv_status(&mut ws, "ack", T).await.expect("acks");
            if ack["count"] == 50 {
                break;
            }
        }
    }
    s.settle().await;
    let mut before = Vec::new();
    for user in ["r1", "r2", "r3"] {
        before.push(
            s.get_as_admin(&format!("/api/state/tc-testcase-{user}"))
                .await
                .1,
        );
    }
    s.stop().await;
    // From the snapshot written at shutdown (nothing left to replay), then from the log alone.
    for from_snapshot in [true, false] {
        if !from_snapshot {
            std::fs::remove_dir_all(dir.path().join("snapshots")).unwrap();
        }
        let s = start(&dir, &clock).await;
        let restored = s.runtime.restored.as_ref().map(|r| r.through_seq);
        if from_snapshot {
            assert_eq!((restored, s.runtime.replayed), (Some(150), 0));
        } else {
            assert_eq!((restored, s.runtime.replayed), (None, 150));
        }
        for (i, user) in ["r1", "r2", "r3"].iter().enumerate() {
            let after = s
                .get_as_admin(&format!("/api/state/tc-testcase-{user}"))
                .await
                .1;
            assert_eq!(after, before[i]);
            assert_eq!(
                after["test.count"][format!("student:tc-testcase-{user}")]["count"],
                50
            );
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn a_notification_reaches_the_students_open_socket() {
    let dir = TempDir::new("notify");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let s = start(&dir, &clock).await;
    let mut listener = connect(&s.ws_url()).await;
    send_json(
        &mut listener,
        &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": "n1"}}),
    )
    .await;
    recv_status(&mut listener, "auth", T).await.expect("auth");
    let mut other = connect(&s.ws_url()).await;
    send_json(
        &mut other,
        &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": "n1"}}),
    )
    .await;
    send_json(&mut other, &json!({"event": "poke"})).await;
    let note = recv_status(&mut listener, "poked", T)
        .await
        .expect("notified");
    assert_eq!(note["by"], "test");
    assert_eq!(clock.now(), Timestamp::from_millis(1_800_000_000_000));
    s.stop().await;
}

#[tokio::test]
async fn a_reducer_can_re_arm_its_timer_under_the_same_id() {
    let dir = TempDir::new("timer-rearm");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let s = start(&dir, &clock).await;
    let mut ws = connect(&s.ws_url()).await;
    send_json(&mut ws, &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": "rep", "ack": true}})).await;
    send_json(&mut ws, &json!({"event": "start"})).await;
    recv_status(&mut ws, "ack", T).await.expect("started");
    for ring in 1..=3u64 {
        s.settle().await;
        clock.advance(Duration::from_secs(1));
        let mut rings = 0;
        for _ in 0..100 {
            let (_, state) = s.get_as_admin("/api/state/tc-testcase-rep").await;
            rings = state["test.repeater"]["student:tc-testcase-rep"]["rings"]
                .as_u64()
                .unwrap_or(0);
            if rings == ring {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(rings, ring, "ring {ring} happened");
    }
    s.settle().await;
    assert_eq!(s.runtime.timers.scheduled(), 0, "done after three rings");
    s.stop().await;
}
