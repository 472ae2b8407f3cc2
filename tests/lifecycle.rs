//! The binary's life: starts with no config file, refuses bad config by name, stops cleanly on
//! SIGTERM and Ctrl-C with every acknowledged event in the log, and comes back with the same
//! state.

mod common;

use common::*;
use futures_util::SinkExt;
use serde_json::json;
use std::process::Command;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn acknowledged_events_are_in_the_log_after_sigterm() {
    let dir = TempDir::new("sigterm");
    let mut server = Server::start(dir.path(), &[]);
    let mut ws = connect(&server.ws_url()).await;
    send_json(&mut ws, &json!({"event": "lock_fields", "fields": {"source": "org.example", "user_id": "term", "ack": true}})).await;
    // Keep sending while the server is told to stop; count what it acknowledges.
    let url_pid = server.child.id();
    let sender = tokio::spawn(async move {
        let mut acked = 0u64;
        let mut sent = 0u64;
        loop {
            for _ in 0..20 {
                if ws
                    .feed(Message::Text(
                        json!({"event": "e", "n": sent}).to_string().into(),
                    ))
                    .await
                    .is_err()
                {
                    return (sent, acked);
                }
                sent += 1;
            }
            if ws.flush().await.is_err() {
                return (sent, acked);
            }
            while let Some(v) = recv(&mut ws, Duration::from_millis(5)).await {
                if v["status"] == "ack" {
                    acked = v["count"].as_u64().unwrap();
                }
            }
            if sent > 200_000 {
                return (sent, acked);
            }
            // Drain the final acks after the server starts closing.
            if !process_alive(url_pid) {
                return (sent, acked);
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.signal("TERM");
    let code = server.wait(T * 3);
    assert_eq!(code, Some(0), "stderr:\n{}", server.stderr());
    let (sent, acked) = sender.await.unwrap();
    assert!(acked > 0, "some events were acknowledged (sent {sent})");
    let logged = server
        .log()
        .iter()
        .filter(|l| l["auth"]["safe_user_id"] == "tc-testcase-term")
        .count() as u64;
    assert!(
        logged >= acked,
        "acknowledged {acked} but only {logged} in the log"
    );
    let stderr = server.stderr();
    assert!(stderr.contains("the event log is synced"), "{stderr}");
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn ctrl_c_stops_cleanly_and_a_restart_finds_the_same_state() {
    let dir = TempDir::new("restart");
    let mut server = Server::start(dir.path(), &[]);
    for user in ["a", "b"] {
        let mut ws = connect(&server.ws_url()).await;
        send_json(&mut ws, &json!({"event": "lock_fields", "fields": {"source": "org.mitros.writing_analytics", "user_id": user, "ack": true}})).await;
        for i in 0..40 {
            send_json(&mut ws, &json!({"event": "keystroke", "i": i})).await;
        }
        while recv_status(&mut ws, "ack", T).await.expect("acks")["count"] != 40 {}
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before_a = server.get_as_admin("/api/state/tc-testcase-a").await.1;
    let before_b = server.get_as_admin("/api/state/tc-testcase-b").await.1;
    assert_eq!(
        before_a["activity.event_count"]["student:tc-testcase-a"]["count"],
        40
    );
    server.signal("INT");
    assert_eq!(server.wait(T), Some(0));

    let server = Server::start(dir.path(), &[]);
    assert_eq!(
        server.get_as_admin("/api/state/tc-testcase-a").await.1,
        before_a
    );
    assert_eq!(
        server.get_as_admin("/api/state/tc-testcase-b").await.1,
        before_b
    );
    // The snapshot written at shutdown holds all 80 events: none is left to replay.
    let log = server.stderr();
    assert!(log.contains("state loaded from a snapshot"), "{log}");
    assert!(log.contains("through_seq=80"), "{log}");
    assert!(log.contains("events=0"), "{log}");
    let (status, body) = http_get(&server.http("/healthz")).await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, _) = http_get(&server.http("/readyz")).await;
    assert_eq!(status, 200);
    let (status, _) = server.get_as_admin("/api/state/nobody").await;
    assert_eq!(status, 404);
    server.stop();
}

#[test]
fn bad_config_is_refused_with_the_key_named() {
    let dir = TempDir::new("badconfig");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nbind = \"127.0.0.1:0\"\nport = 9\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&path)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port") && err.contains("line 3"), "{err}");

    std::fs::write(&path, "[ingest]\nmax_json_depth = 0\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ingest.max_json_depth"));

    // Found by fuzzing the configuration: these thresholds used to be accepted.
    for bad in ["nan", "-5.0", "0.0", "inf"] {
        std::fs::write(
            &path,
            format!("[modules.activity]\ntime_on_task_threshold_secs = {bad}\n"),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["--config"])
            .arg(&path)
            .arg("check-config")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("modules.activity.time_on_task_threshold_secs"),
            "{bad}"
        );
    }

    std::fs::write(&path, "[modules.nonexistent]\nx = 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent"));
}

#[test]
fn the_shipped_config_is_valid_and_equals_the_defaults() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&shipped)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With no config file at all (an empty directory), the effective config is the same.
    let dir = TempDir::new("noconfig");
    let none = Command::new(BIN)
        .current_dir(dir.path())
        .arg("check-config")
        .output()
        .unwrap();
    assert!(none.status.success());
    let body = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&out), body(&none));
}

#[test]
fn token_issue_makes_tokens_the_server_accepts() {
    let secret = "an-e2e-secret-that-is-long-enough";
    let out = Command::new(BIN)
        .env("CLASSPULSE_TOKEN_SECRET", secret)
        .args(["token", "issue", "--student", "s-7", "--ttl", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = TempDir::new("token");
        let config = dir.path().join("c.toml");
        std::fs::write(&config, "[auth]\nmethods = [\"token\"]\n").unwrap();
        let server = Server::start_with_env(
            dir.path(),
            &["--config", config.to_str().unwrap()],
            &[("CLASSPULSE_TOKEN_SECRET", secret)],
        );
        let mut ws = connect(&server.ws_url()).await;
        send_json(
            &mut ws,
            &json!({"event": "lock_fields", "fields": {"source": "x", "token": token}}),
        )
        .await;
        let auth = recv_status(&mut ws, "auth", T)
            .await
            .expect("authenticated by token");
        assert_eq!(auth["user_id"], "s-7");
        server.stop();
    });
}
