//! Disk trouble, for real: the event log lives on a small `tmpfs`, which the test fills up and
//! then remounts read-only while the server takes events (no fake disk layer). Meanwhile:
//!
//! - nothing is acknowledged that is not durable, and nothing half-written stays in the log;
//! - clients are told: new events are refused with `{"status":"error", …, "refused": N}`;
//! - `/readyz` answers 503 and says why (no space, read-only), `/healthz` says `degraded`;
//! - when the file system is writable again and has room, the server recovers by itself: the
//!   events it held are acknowledged, new ones are accepted, `/readyz` is 200 again, and a
//!   restart finds exactly the acknowledged events.
//!
//! Mounting needs root (CI runs the tests as root). Elsewhere the test is skipped with a
//! message — except under `CI=true`, where not being able to mount is a failure.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs(at.to_owned()))
    }

    /// Remounts with `options` (`ro`, `rw`); retries a moment, since the server briefly opens
    /// the segment on each retry (a file open for writing makes a read-only remount fail).
    fn remount(&self, options: &str) {
        let deadline = Instant::now() + T;
        loop {
            let out = Command::new("mount")
                .args(["-o", &format!("remount,{options}")])
                .arg(&self.0)
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "remount {options}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with a file, until it is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

async fn status(server: &Server, path: &str) -> (u16, String) {
    let (status, body) = http_get(&server.http(path)).await;
    (status, body.trim().to_owned())
}

async fn wait_status(server: &Server, path: &str, want: u16) -> String {
    let deadline = Instant::now() + T;
    loop {
        let (got, body) = status(server, path).await;
        if got == want {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every line of the log is whole JSON; returns the event numbers `n` logged for `user`.
fn logged(log_dir: &Path, user: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "a half-written line in {f:?}"
        );
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("every logged line is whole");
            if v["auth"]["safe_user_id"] == format!("tc-testcase-{user}") {
                out.push(v["client"]["n"].as_u64().unwrap());
            }
        }
    }
    out
}

/// Sends events `from..to`; returns the replies that arrive within `wait`.
async fn send_events(ws: &mut Ws, from: u64, to: u64, wait: Duration) -> Vec<Value> {
    for n in from..to {
        send_json(ws, &json!({"event": "e", "n": n, "pad": "x".repeat(200)})).await;
    }
    let mut replies = Vec::new();
    while let Some(v) = recv(ws, wait).await {
        replies.push(v);
    }
    replies
}

fn last_ack(replies: &[Value]) -> Option<u64> {
    replies
        .iter()
        .filter(|r| r["status"] == "ack")
        .filter_map(|r| r["count"].as_u64())
        .max()
}

fn refused(replies: &[Value]) -> u64 {
    replies
        .iter()
        .filter(|r| r["status"] == "error")
        .filter_map(|r| r["refused"].as_u64())
        .sum()
}

#[tokio::test]
async fn a_full_then_read_only_disk_is_survived() {
    if !is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: the disk-trouble test must run (as root, to mount a tmpfs)"
        );
        eprintln!("SKIPPED disk_trouble: needs root to mount a tmpfs (CI runs it as root)");
        return;
    }
    let dir = TempDir::new("disk");
    let log_dir = dir.path().join("data/log");
    let mount = match Tmpfs::mount(&log_dir, "2m") {
        Ok(m) => m,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: cannot mount a tmpfs: {e}"
            );
            eprintln!("SKIPPED disk_trouble: cannot mount a tmpfs: {e}");
            return;
        }
    };
    let server = Server::start(dir.path(), &[]);
    let mut ws = connect(&server.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {"source": "org.example", "user_id": "disk", "ack": true}}),
    )
    .await;
    let replies = send_events(&mut ws, 0, 20, Duration::from_millis(300)).await;
    assert_eq!(last_ack(&replies), Some(20));
    assert_eq!(status(&server, "/readyz").await.0, 200);

    // The disk fills up. The segment's last page may still take a line or two; then an event
    // is not acknowledged: the writer holds it, failing, and retries.
    let filler = fill(&log_dir);
    let mut acked = 20;
    let mut n = 20;
    let held = loop {
        let replies = send_events(&mut ws, n, n + 1, Duration::from_millis(400)).await;
        assert_eq!(
            refused(&replies),
            0,
            "refused before a write failed: {replies:?}"
        );
        match last_ack(&replies) {
            Some(count) => {
                assert_eq!(count, acked + 1);
                acked = count;
                n += 1;
                assert!(n < 60, "a full disk took 40 more events");
            }
            None => break n,
        }
    };
    let why = wait_status(&server, "/readyz", 503).await;
    assert!(why.contains("No space left on device"), "{why}");
    let (health, body) = status(&server, "/healthz").await;
    assert!(health == 200 && body.starts_with("degraded:"), "{body}");
    // New events are refused, and the client is told.
    let replies = send_events(&mut ws, held + 1, held + 11, Duration::from_millis(500)).await;
    assert_eq!(last_ack(&replies), None);
    assert_eq!(refused(&replies), 10, "{replies:?}");
    let error = replies.iter().find(|r| r["status"] == "error").unwrap();
    assert!(
        error["reason"].as_str().unwrap().contains("No space left"),
        "{error}"
    );
    // Nothing half-written: the log holds exactly the acknowledged events.
    assert_eq!(logged(&log_dir, "disk"), (0..acked).collect::<Vec<_>>());

    // Then the file system goes read-only.
    mount.remount("ro");
    let deadline = Instant::now() + T;
    loop {
        let (_, why) = status(&server, "/readyz").await;
        if why.contains("Read-only file system") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never said read-only: {why}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replies = send_events(&mut ws, held + 11, held + 16, Duration::from_millis(500)).await;
    assert_eq!(refused(&replies), 5);
    assert_eq!(last_ack(&replies), None);
    // Another client is told too, from its first event.
    let mut other = connect(&server.ws_url()).await;
    send_json(
        &mut other,
        &json!({"event": "lock_fields", "fields": {"source": "org.example", "user_id": "late", "ack": true}}),
    )
    .await;
    let replies = send_events(&mut other, 0, 3, Duration::from_millis(500)).await;
    assert_eq!(refused(&replies), 3, "{replies:?}");

    // Writable again, with room: the server recovers by itself.
    mount.remount("rw");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(wait_status(&server, "/readyz", 200).await, "ready");
    // The event it held (sent before the refusals began) is acknowledged now.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let v = recv(&mut ws, left)
            .await
            .expect("the held event is acknowledged");
        if v["status"] == "ack" && v["count"] == acked + 1 {
            break;
        }
    }
    let replies = send_events(&mut ws, 100, 110, Duration::from_millis(500)).await;
    assert_eq!(last_ack(&replies), Some(acked + 11), "accepted again");
    assert_eq!(refused(&replies), 0);
    let mut expected: Vec<u64> = (0..=held).collect();
    expected.extend(100..110);
    assert_eq!(logged(&log_dir, "disk"), expected);

    // A restart finds exactly the acknowledged events, in the log and in the state.
    drop(ws);
    drop(other);
    server.stop();
    let server = Server::start(dir.path(), &[]);
    let (code, state) = server.get_as_admin("/api/state/tc-testcase-disk").await;
    assert_eq!(code, 200);
    assert_eq!(
        state["activity.event_count"]["student:tc-testcase-disk"]["count"],
        acked + 11
    );
    assert_eq!(
        server.get_as_admin("/api/state/tc-testcase-late").await.0,
        404,
        "nothing of the refused client"
    );
    server.stop();
    drop(mount);
    let total = acked + 11;
    eprintln!(
        "disk trouble: {acked} events acknowledged before the disk was full; 1 held, not \
         acknowledged, while 18 were refused and the clients told (10 full, 5 read-only, 3 \
         from a second client); after recovery {total} acknowledged in all, the same {total} \
         found after a restart"
    );
}
