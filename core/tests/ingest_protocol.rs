//! The `/wsapi/in/` protocol over real sockets: lock_fields, held events, auth methods,
//! bad frames, acks, terminate, rate limits.

mod common;

use classpulse_core::auth::token::{Claims, issue};
use classpulse_core::auth::{AuthConfig, Method};
use classpulse_core::config::Config;
use classpulse_core::telemetry::Rejection;
use common::modules::{SOURCE, TestModule};
use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(5);

async fn server(config: Config, dir: &TempDir) -> TestServer {
    TestServer::start(config, dir.path(), vec![Arc::new(TestModule)], None).await
}

fn header(fields: Value) -> Value {
    json!({"event": "lock_fields", "fields": fields})
}

fn events_of(log: &[Value], user: &str) -> Vec<Value> {
    log.iter()
        .filter(|l| l["auth"]["safe_user_id"] == user)
        .cloned()
        .collect()
}

#[tokio::test]
async fn lock_fields_are_merged_with_learning_observers_rules() {
    let dir = TempDir::new("lock");
    let s = server(Config::default(), &dir).await;
    let mut ws = connect(&s.ws_url()).await;
    send_json(
        &mut ws,
        &header(json!({"source": SOURCE, "version": "1", "user_id": "u1"})),
    )
    .await;
    send_json(
        &mut ws,
        &json!({"event": "a", "version": "event's own", "n": 1}),
    )
    .await;
    let auth = recv_status(&mut ws, "auth", T).await.expect("auth answer");
    assert_eq!(auth["user_id"], "testcase-u1");
    // Same source again: ignored entirely, so user_id stays u1.
    send_json(
        &mut ws,
        &header(json!({"source": SOURCE, "user_id": "u2", "extra": 1})),
    )
    .await;
    // No source: merged.
    send_json(&mut ws, &header(json!({"class": "7b"}))).await;
    send_json(
        &mut ws,
        &json!({"event": "b", "auth": {"user_id": "spoofed"}}),
    )
    .await;
    send_json(&mut ws, &json!({"event": "terminate"})).await;
    assert!(
        recv(&mut ws, T).await.is_none(),
        "terminate closes the socket"
    );
    s.settle().await;
    let log = s.log();
    let mine = events_of(&log, "tc-testcase-u1");
    assert_eq!(mine.len(), 2, "{log:#?}");
    assert_eq!(
        mine[0]["client"]["version"], "1",
        "lock fields win over the event's keys"
    );
    assert_eq!(mine[0]["client"]["n"], 1);
    assert_eq!(mine[1]["client"]["class"], "7b");
    assert!(mine[1]["client"].get("extra").is_none());
    assert!(
        mine[1]["client"].get("auth").is_none(),
        "client-supplied auth is discarded"
    );
    assert_eq!(mine[1]["auth"]["user_id"], "testcase-u1");
    assert_eq!(mine[0]["source"], SOURCE);
    assert!(mine[0]["seq"].as_u64().unwrap() < mine[1]["seq"].as_u64().unwrap());
    assert!(log.iter().all(|l| l["client"]["event"] != "terminate"));
    let (status, state) = s.get_as_admin("/api/state/tc-testcase-u1").await;
    assert_eq!(status, 200);
    assert_eq!(state["test.count"]["student:tc-testcase-u1"]["count"], 2);
    s.stop().await;
}

#[tokio::test]
async fn events_before_authentication_are_held_then_accepted() {
    let dir = TempDir::new("held");
    let s = server(Config::default(), &dir).await;
    let mut ws = connect(&s.ws_url()).await;
    send_json(&mut ws, &header(json!({"source": SOURCE}))).await;
    send_json(&mut ws, &json!({"event": "early-1"})).await;
    send_json(&mut ws, &json!({"event": "early-2"})).await;
    // Identity arrives in a later header, and the client hangs up right after: Learning
    // Observer loses these events; we accept them.
    send_json(&mut ws, &header(json!({"user_id": "late"}))).await;
    ws.close(None).await.unwrap();
    s.settle().await;
    let mine = events_of(&s.log(), "tc-testcase-late");
    let kinds: Vec<_> = mine.iter().map(|l| l["client"]["event"].clone()).collect();
    assert_eq!(kinds, vec![json!("early-1"), json!("early-2")]);
    assert_eq!(
        mine[0]["client"]["user_id"],
        Value::Null,
        "held events keep the lock fields they arrived with"
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_socket_goes_on() {
    let dir = TempDir::new("bad");
    let mut config = Config::default();
    config.ingest.max_frame_bytes = 4096;
    config.ingest.max_json_depth = 8;
    let s = server(config, &dir).await;
    let mut ws = connect(&s.ws_url()).await;
    send_json(
        &mut ws,
        &header(json!({"source": SOURCE, "user_id": "b", "ack": true})),
    )
    .await;
    let cases: Vec<(Message, Rejection)> = vec![
        (Message::Binary(vec![1u8, 2, 3].into()), Rejection::Binary),
        (Message::Text("{not json".into()), Rejection::InvalidJson),
        (
            Message::Text(format!(r#"{{"event":"x","pad":"{}"}}"#, "x".repeat(5000)).into()),
            Rejection::TooLarge,
        ),
        (
            Message::Text(
                format!(
                    r#"{{"event":"x","deep":{}1{}}}"#,
                    "[".repeat(20),
                    "]".repeat(20)
                )
                .into(),
            ),
            Rejection::TooDeep,
        ),
        (Message::Text("[1,2,3]".into()), Rejection::NotAnObject),
        (
            Message::Text(r#"{"no_event":true}"#.into()),
            Rejection::NoEventType,
        ),
    ];
    for (frame, why) in &cases {
        ws.send(frame.clone()).await.unwrap();
        let reply = recv_status(&mut ws, "error", T)
            .await
            .unwrap_or_else(|| panic!("no error for {why:?}"));
        assert!(reply["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!(s.runtime.stats.rejected(*why), 1, "{why:?} counted");
    }
    // The socket still works, and rejected frames never count towards acks.
    send_json(&mut ws, &json!({"event": "fine"})).await;
    let ack = recv_status(&mut ws, "ack", T).await.expect("ack");
    assert_eq!(ack["count"], 1);
    s.stop().await;
}

#[tokio::test]
async fn acks_are_cumulative_and_mean_durable() {
    let dir = TempDir::new("ack");
    let s = server(Config::default(), &dir).await;
    let mut ws = connect(&s.ws_url()).await;
    send_json(
        &mut ws,
        &header(json!({"source": SOURCE, "user_id": "acker", "ack": true})),
    )
    .await;
    for i in 0..200 {
        send_json(&mut ws, &json!({"event": "e", "i": i})).await;
    }
    let mut last = (0u64, 0u64);
    while last.0 < 200 {
        let ack = recv_status(&mut ws, "ack", T)
            .await
            .expect("acks keep coming");
        let count = ack["count"].as_u64().unwrap();
        let seq = ack["seq"].as_u64().unwrap();
        assert!(
            count > last.0 && seq > last.1,
            "acks grow: {ack} after {last:?}"
        );
        // Everything acknowledged is already in the log file.
        let durable = events_of(&read_log(&s.runtime.log_dir()), "tc-testcase-acker");
        assert!(durable.len() as u64 >= count);
        assert_eq!(durable[count as usize - 1]["seq"], ack["seq"]);
        last = (count, seq);
    }
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_ask_gets_only_learning_observers_messages() {
    let dir = TempDir::new("noack");
    let s = server(Config::default(), &dir).await;
    let mut ws = connect(&s.ws_url()).await;
    send_json(
        &mut ws,
        &header(json!({"source": SOURCE, "user_id": "plain"})),
    )
    .await;
    for _ in 0..5 {
        send_json(&mut ws, &json!({"event": "e"})).await;
    }
    let first = recv(&mut ws, T).await.unwrap();
    assert_eq!(
        first,
        json!({"status": "auth", "user_id": "testcase-plain"})
    );
    assert!(recv(&mut ws, Duration::from_millis(300)).await.is_none());
    s.stop().await;
}

#[tokio::test]
async fn tokens_are_accepted_and_bad_ones_refused() {
    let dir = TempDir::new("token");
    let secret = "a-test-secret-of-enough-length";
    let config = Config {
        auth: AuthConfig {
            methods: vec![Method::Token],
            allow_insecure_auth: false,
            token_secret: Some(secret.into()),
        },
        ..Config::default()
    };
    let s = server(config, &dir).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let good = issue(
        secret.as_bytes(),
        &Claims {
            sub: "s-42".into(),
            exp: now + 3600,
        },
    );
    let expired = issue(
        secret.as_bytes(),
        &Claims {
            sub: "s-42".into(),
            exp: now - 1,
        },
    );
    let forged = issue(
        b"someone-elses-secret-key",
        &Claims {
            sub: "s-42".into(),
            exp: now + 3600,
        },
    );

    for (token, reason) in [
        (&expired, "token expired"),
        (&forged, "invalid token signature"),
    ] {
        let mut ws = connect(&s.ws_url()).await;
        send_json(&mut ws, &header(json!({"source": SOURCE, "token": token}))).await;
        let e = recv_status(&mut ws, "error", T).await.expect("refused");
        assert_eq!(e["reason"], reason);
    }
    // An insecure claim does nothing when only tokens are accepted.
    let mut ws = connect(&s.ws_url()).await;
    send_json(
        &mut ws,
        &header(json!({"source": SOURCE, "user_id": "mallory"})),
    )
    .await;
    send_json(&mut ws, &json!({"event": "e"})).await;
    assert!(recv(&mut ws, Duration::from_millis(300)).await.is_none());

    let mut ws = connect(&s.ws_url()).await;
    send_json(&mut ws, &header(json!({"source": SOURCE, "token": good}))).await;
    let auth = recv_status(&mut ws, "auth", T)
        .await
        .expect("authenticated");
    assert_eq!(auth["user_id"], "s-42");
    send_json(&mut ws, &json!({"event": "e", "user_id": "mallory"})).await;
    drop(ws);
    s.settle().await;
    let log = s.log();
    let mine = events_of(&log, "s-42");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["auth"]["sec"], "authenticated");
    assert!(!log.iter().any(|l| l.to_string().contains(secret)));
    assert!(
        !log.iter().any(|l| l["client"].get("token").is_some()),
        "tokens are never logged"
    );
    assert!(events_of(&log, "tc-testcase-mallory").is_empty());
    s.stop().await;
}

#[tokio::test]
async fn a_flooding_socket_is_throttled_without_starving_others() {
    let dir = TempDir::new("flood");
    let mut config = Config::default();
    config.ingest.max_events_per_second = 200;
    config.ingest.burst = 200;
    let s = server(config, &dir).await;
    let mut flood = connect(&s.ws_url()).await;
    send_json(
        &mut flood,
        &header(json!({"source": SOURCE, "user_id": "flood", "ack": true})),
    )
    .await;
    let frames: Vec<Message> = (0..2000)
        .map(|i| Message::Text(json!({"event": "f", "i": i}).to_string().into()))
        .collect();
    let flooder = tokio::spawn(async move {
        for f in frames {
            if flood.feed(f).await.is_err() {
                break;
            }
        }
        let _ = flood.flush().await;
        flood
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut calm = connect(&s.ws_url()).await;
    send_json(
        &mut calm,
        &header(json!({"source": SOURCE, "user_id": "calm", "ack": true})),
    )
    .await;
    for _ in 0..10 {
        send_json(&mut calm, &json!({"event": "c"})).await;
    }
    loop {
        let ack = recv_status(&mut calm, "ack", T)
            .await
            .expect("the calm socket is served");
        if ack["count"] == 10 {
            break;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "calm socket waited {:?}",
        started.elapsed()
    );
    let flooded = events_of(&read_log(&s.runtime.log_dir()), "tc-testcase-flood").len();
    assert!(
        flooded < 1000,
        "flood accepted {flooded} events in well under 2 s at 200/s"
    );
    flooder.abort();
    s.stop().await;
}

#[tokio::test]
async fn a_reducer_that_panics_is_isolated() {
    let dir = TempDir::new("panic");
    let s = server(Config::default(), &dir).await;
    let mut ws = connect(&s.ws_url()).await;
    send_json(
        &mut ws,
        &header(json!({"source": SOURCE, "user_id": "p", "ack": true})),
    )
    .await;
    send_json(&mut ws, &json!({"event": "panic"})).await;
    send_json(&mut ws, &json!({"event": "after"})).await;
    loop {
        let ack = recv_status(&mut ws, "ack", T)
            .await
            .expect("the socket goes on");
        if ack["count"] == 2 {
            break;
        }
    }
    s.settle().await;
    assert_eq!(s.log().len(), 2, "the event stays in the log");
    assert!(s.runtime.stats.reducer_failures() >= 1);
    let (_, state) = s.get_as_admin("/api/state/tc-testcase-p").await;
    assert_eq!(
        state["test.alarm"]["student:tc-testcase-p"]["armed"], 0,
        "other reducers ran"
    );
    assert_eq!(
        state["test.count"]["student:tc-testcase-p"]["kinds"],
        json!(["after"])
    );
    s.stop().await;
}
