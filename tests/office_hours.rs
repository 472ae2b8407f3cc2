//! Office hours with real `classpulse serve` processes, on wall time with a short accept window
//! set in the config: an offer outstanding when the server dies is expired at its deadline by
//! the restarted server; one whose deadline passed while the server was down expires at
//! start-up, and a late accept is refused. And two nodes on one Redis: TAs on different nodes
//! calling next at the same moment always get different students, in line order.

mod common;

use classpulse_core::testing::{redis_or_skip, unique_prefix};
use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const SOURCE: &str = "org.classpulse.office_hours";
const T: Duration = Duration::from_secs(20);
/// The accept window of these tests, in seconds.
const WINDOW_SECS: u64 = 3;

fn setup(dir: &Path, extra: &str, window_secs: u64) -> PathBuf {
    let mut members = String::new();
    for i in 1..=8 {
        members.push_str(&format!(
            "  {{ user_id = \"tc-testcase-s{i}\", name = \"Student {i}\", role = \"student\" }},\n"
        ));
    }
    std::fs::write(
        dir.join("roster.toml"),
        format!(
            "[[course]]\nid = \"C1\"\nname = \"Course One\"\nmembers = [\n{members}\
             \x20 {{ user_id = \"tc-testcase-ta1\", name = \"TA One\", role = \"ta\" }},\n\
             \x20 {{ user_id = \"tc-testcase-ta2\", name = \"TA Two\", role = \"ta\" }},\n]\n"
        ),
    )
    .unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[roster]\nfiles = [\"roster.toml\"]\n\n[ingest]\nmax_events_per_second = 0\n\n{extra}\n\
             [modules.office_hours]\noffer_window_secs = {window_secs}\n"
        ),
    )
    .unwrap();
    config
}

/// A page over `/wsapi/in/` (testcase identity), speaking office hours.
struct Page {
    ws: Ws,
    who: String,
}

impl Page {
    async fn open(url: &str, who: &str) -> Page {
        let mut ws = connect(url).await;
        send_json(
            &mut ws,
            &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": who, "course_id": "C1"}}),
        )
        .await;
        Page {
            ws,
            who: who.into(),
        }
    }

    async fn send(&mut self, command: Value) {
        self.ws
            .send(Message::Text(command.to_string().into()))
            .await
            .unwrap();
    }

    /// The next office-hours message about `what` (others are skipped).
    async fn expect(&mut self, what: &str) -> Value {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = recv(&mut self.ws, left)
                .await
                .unwrap_or_else(|| panic!("{}: no {what:?} message", self.who));
            if m["status"] == "office_hours" && m["what"] == what {
                return m;
            }
        }
    }
}

fn expiries(server: &Server) -> Vec<Value> {
    server
        .log()
        .into_iter()
        .filter(|l| l["client"]["event"] == "offer_expired")
        .collect()
}

fn micros(line: &Value) -> i64 {
    (line["time"].as_f64().unwrap() * 1e6).round() as i64
}

#[tokio::test]
async fn offers_outlive_a_crash_and_expire_on_time_or_at_start_up() {
    let dir = TempDir::new("oh-restart");
    let config = setup(dir.path(), "", WINDOW_SECS);
    let config = config.to_str().unwrap();
    let server = Server::start(dir.path(), &["--config", config]);
    let mut s1 = Page::open(&server.ws_url(), "s1").await;
    let mut s2 = Page::open(&server.ws_url(), "s2").await;
    let mut ta = Page::open(&server.ws_url(), "ta1").await;
    s1.send(json!({"event": "join", "question": "Q"})).await;
    s1.expect("joined").await;
    s2.send(json!({"event": "join"})).await;
    s2.expect("joined").await;
    ta.send(json!({"event": "ta_on_duty"})).await;
    let offer = s1.expect("offer").await;
    let deadline = offer["me"]["offer"]["deadline"].as_i64().unwrap();
    assert_eq!(
        deadline - offer["me"]["offer"]["offered"].as_i64().unwrap(),
        WINDOW_SECS as i64 * 1_000_000,
        "the window set in the config"
    );

    // 1. The server dies with the offer outstanding and is back well before the deadline.
    server.signal("KILL");
    let mut server = server;
    server.wait(T);
    drop((s1, s2, ta));
    let server = Server::start(dir.path(), &["--config", config]);
    // Nobody accepts: the restarted server expires it, at the deadline.
    let mut fired = Vec::new();
    let wait = Instant::now() + T;
    while fired.is_empty() && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fired = expiries(&server);
    }
    assert_eq!(fired.len(), 1, "the re-armed expiry fired");
    let late = micros(&fired[0]) - deadline;
    assert!(
        (0..1_000_000).contains(&late),
        "expired {late} µs after its deadline"
    );
    // s1 went to the back of the line, as their page hears when it asks to join again.
    let mut s1 = Page::open(&server.ws_url(), "s1").await;
    s1.send(json!({"event": "join"})).await;
    let refused = s1.expect("refused").await;
    assert_eq!(
        refused["message"],
        "You are already in line, at position 2."
    );

    // 2. s2 is called; the server stops, stays down past the deadline, and comes back.
    let mut ta = Page::open(&server.ws_url(), "ta1").await;
    let mut s2 = Page::open(&server.ws_url(), "s2").await;
    ta.send(json!({"event": "call_next"})).await;
    let offer = s2.expect("offer").await;
    let deadline = offer["me"]["offer"]["deadline"].as_i64().unwrap();
    drop((s1, s2, ta));
    server.stop();
    let down_until = Instant::now() + Duration::from_secs(WINDOW_SECS) + Duration::from_millis(300);
    tokio::time::sleep_until(down_until.into()).await;
    let server = Server::start(dir.path(), &["--config", config]);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let mut fired = Vec::new();
    let wait = Instant::now() + T;
    while fired.len() < 2 && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fired = expiries(&server);
    }
    assert_eq!(fired.len(), 2, "the overdue offer expired at start-up");
    let at = micros(&fired[1]);
    assert!(
        at > deadline + 300_000 && at <= started + 2_000_000,
        "expired at start-up: {at}, deadline {deadline}, started {started}"
    );
    // s2 comes back online and accepts: too late, and told so.
    let mut s2 = Page::open(&server.ws_url(), "s2").await;
    s2.send(json!({"event": "offer_accepted"})).await;
    let refused = s2.expect("refused").await;
    let text = refused["message"].as_str().unwrap();
    assert!(text.starts_with("Too late: the offer expired at"), "{text}");
    assert!(text.contains("position 2"), "{text}");
    // The expiries carry the identity of the TA whose call armed them, but they are the
    // module's events, not the TA's activity: the TA's event count is what the TA sent.
    let ta_id = "tc-testcase-ta1";
    let log = server.log();
    let by_ta = |timer: bool| {
        log.iter()
            .filter(|l| l["auth"]["safe_user_id"] == ta_id && l.get("timer").is_some() == timer)
            .count() as u64
    };
    assert_eq!(by_ta(true), 2, "both expiries were armed by the TA's calls");
    let sent = by_ta(false);
    let (status, state) = server.get_as_admin(&format!("/api/state/{ta_id}")).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(
        state["activity.event_count"][format!("student:{ta_id}")]["count"],
        sent,
        "{state}"
    );
    server.stop();
}

fn node_config(dir: &Path, node: &str, url: &str, prefix: &str) -> PathBuf {
    setup(
        dir,
        &format!(
            "[server]\nnode_id = \"{node}\"\n\n\
             [kvs]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n\n\
             [pubsub]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n"
        ),
        // Long enough that no offer expires while the test runs.
        300,
    )
}

/// The student a TA's `offer` message names.
fn offered(m: &Value) -> String {
    m["ta"]["offer"]["student"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tas_on_two_nodes_calling_next_at_once_get_different_students() {
    let Some(redis) = redis_or_skip("two_tas_on_two_nodes_calling_next_at_once") else {
        return;
    };
    let prefix = unique_prefix("oh");
    let (da, db) = (TempDir::new("oh-node-a"), TempDir::new("oh-node-b"));
    let ca = node_config(da.path(), "a", &redis.url(), &prefix);
    let cb = node_config(db.path(), "b", &redis.url(), &prefix);
    let a = Server::start(da.path(), &["--config", ca.to_str().unwrap()]);
    let b = Server::start(db.path(), &["--config", cb.to_str().unwrap()]);
    let urls = [a.ws_url(), b.ws_url()];

    // Eight students join, alternately through either node, in a known order.
    let mut students = Vec::new();
    for i in 1..=8 {
        let mut p = Page::open(&urls[i % 2], &format!("s{i}")).await;
        p.send(json!({"event": "join"})).await;
        let joined = p.expect("joined").await;
        assert_eq!(joined["me"]["position"], i, "s{i} is {i}th in line");
        students.push(p);
    }
    let mut ta1 = Page::open(&urls[0], "ta1").await;
    let mut ta2 = Page::open(&urls[1], "ta2").await;

    // Round 1: both open office hours at once (each opening calls a student).
    // Rounds 2–4: both call next at once, after ending their sessions.
    for round in 0..4 {
        let kind = if round == 0 {
            "ta_on_duty"
        } else {
            "call_next"
        };
        tokio::join!(
            ta1.send(json!({"event": kind})),
            ta2.send(json!({"event": kind}))
        );
        // Opening office hours answers `on_duty` (with the call); calling next, `offer`.
        let told = if round == 0 { "on_duty" } else { "offer" };
        let (m1, m2) = tokio::join!(ta1.expect(told), ta2.expect(told));
        let mut got = [offered(&m1), offered(&m2)];
        assert_ne!(got[0], got[1], "round {round}: two TAs, two students");
        got.sort();
        let want = [
            format!("tc-testcase-s{}", 2 * round + 1),
            format!("tc-testcase-s{}", 2 * round + 2),
        ];
        assert_eq!(got, want, "round {round}: the next two in line");
        // Each called student sees their offer and accepts it on their own node.
        for n in [2 * round, 2 * round + 1] {
            let p = &mut students[n];
            p.expect("offer").await;
            p.send(json!({"event": "offer_accepted"})).await;
            p.expect("session").await;
        }
        for ta in [&mut ta1, &mut ta2] {
            ta.expect("session").await;
            ta.send(json!({"event": "session_ended"})).await;
            ta.expect("ended").await;
        }
    }
    // Both nodes logged their own TA's commands; nobody was called twice.
    let calls: Vec<Value> = a
        .log()
        .into_iter()
        .chain(b.log())
        .filter(|l| l["client"]["event"] == "offer_accepted")
        .collect();
    assert_eq!(calls.len(), 8);
    a.stop();
    b.stop();
    // The course's queue really was written by both nodes in turn: their order journals
    // record where one node's updates of it followed the other's.
    let mut handovers = 0;
    for (dir, node) in [(&da, "a"), (&db, "b")] {
        let journal = dir.path().join("data/order").join(format!("{node}.jsonl"));
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        handovers += text
            .lines()
            .filter(|l| l.contains("office_hours.queue"))
            .count();
    }
    assert!(
        handovers >= 4,
        "{handovers} hand-overs of the queue between nodes"
    );
}
