//! Crash safety with real processes: the debug `classpulse` binary serves students who ask for
//! acknowledgements while it is SIGKILLed at random moments, several rounds, and restarted on
//! the same data directory each time. Afterwards:
//!
//! - every acknowledged event is in the log, exactly once (each event carries a unique number);
//! - each connection's durable events are a prefix of what it sent (its document's text is
//!   exactly the characters of those events, in order: nothing applied twice or out of order);
//! - the state the last server built live (replay at start, then live events) equals the
//!   state a fresh server builds from a copy of the log in a new data directory.
//!
//! `CLASSPULSE_CRASH_ROUNDS` (default 4) sets the number of kills; `CLASSPULSE_CRASH_SEED`
//! replays a run's random moments (the seed is printed).

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 6;
/// Most events a client has sent but not yet seen acknowledged.
const WINDOW: u64 = 64;
const T: Duration = Duration::from_secs(30);

/// A small deterministic generator for the kill moments (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// What one client knows about one of its connections.
#[derive(Debug, Default, Clone)]
struct ConnRecord {
    doc: String,
    /// Event numbers sent on this connection, in order.
    sent: Vec<u64>,
    /// How many of them the server acknowledged (a prefix).
    acked: usize,
}

#[derive(Default)]
struct Ledger {
    /// Per student: their connections.
    conns: BTreeMap<String, Vec<ConnRecord>>,
}

/// The character event `n` inserts (so a document's text spells its events in order).
fn glyph(n: u64) -> char {
    char::from(b'a' + (n % 26) as u8)
}

fn save(doc: &str, ibi: usize, n: u64) -> String {
    json!({
        "event": "google_docs_save", "doc_id": doc, "n": n,
        "url": format!("https://docs.google.com/document/d/{doc}/edit"),
        "bundles": [{"commands": [{"ty": "is", "ibi": ibi, "s": glyph(n).to_string()}]}],
    })
    .to_string()
}

/// One student: connects to whatever server is current, sends numbered events within a window
/// of unacknowledged ones, and on a dropped connection starts a new one (with a new document).
async fn student(
    user: String,
    mut addr: watch::Receiver<Option<String>>,
    ledger: Arc<Mutex<Ledger>>,
    stop: watch::Receiver<bool>,
) {
    let mut next_n = 0u64;
    let mut conn_no = 0usize;
    loop {
        if *stop.borrow() {
            return;
        }
        let current = addr.borrow_and_update().clone();
        let Some(a) = current else {
            let _ = addr.changed().await;
            continue;
        };
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(format!("ws://{a}/wsapi/in/")),
        )
        .await
        else {
            // The server is gone: wait for the next one.
            let _ = tokio::time::timeout(Duration::from_millis(200), addr.changed()).await;
            continue;
        };
        conn_no += 1;
        let record = ConnRecord {
            doc: format!("{user}-doc{conn_no}"),
            ..ConnRecord::default()
        };
        let index = {
            let mut l = ledger.lock().unwrap();
            let list = l.conns.entry(format!("tc-testcase-{user}")).or_default();
            list.push(record.clone());
            list.len() - 1
        };
        let lock = json!({"event": "lock_fields", "fields": {
            "source": "org.mitros.writing_analytics", "version": "1.0", "user_id": user, "ack": true}});
        if ws
            .send(Message::Text(lock.to_string().into()))
            .await
            .is_err()
        {
            continue;
        }
        let mut sent = 0usize;
        let mut acked = 0usize;
        'conn: loop {
            let stopping = *stop.borrow();
            if stopping && acked == sent {
                let _ = ws.close(None).await;
                return;
            }
            let mut fed = false;
            while !stopping && ((sent - acked) as u64) < WINDOW {
                let n = next_n;
                next_n += 1;
                sent += 1;
                ledger
                    .lock()
                    .unwrap()
                    .conns
                    .get_mut(&format!("tc-testcase-{user}"))
                    .unwrap()[index]
                    .sent
                    .push(n);
                if ws
                    .feed(Message::Text(save(&record.doc, sent, n).into()))
                    .await
                    .is_err()
                {
                    break 'conn;
                }
                fed = true;
            }
            if fed && ws.flush().await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    match v["status"].as_str() {
                        Some("ack") => {
                            acked = v["count"].as_u64().unwrap() as usize;
                            assert!(acked <= sent, "acknowledged more than was sent: {v}");
                            ledger
                                .lock()
                                .unwrap()
                                .conns
                                .get_mut(&format!("tc-testcase-{user}"))
                                .unwrap()[index]
                                .acked = acked;
                        }
                        Some("auth") => {}
                        _ => panic!("unexpected message for {user}: {v}"),
                    }
                }
                Ok(Some(Ok(_))) => {}
                // Closed, reset or silent: the server died; go find the next one.
                _ => break,
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn states(server: &Server, users: &[String]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for u in users {
        let (status, v) = server.get_as_admin(&format!("/api/state/{u}")).await;
        assert_eq!(status, 200, "state of {u}: {v}");
        out.insert(u.clone(), v);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_repeated_sigkill() {
    let rounds: usize = std::env::var("CLASSPULSE_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let seed: u64 = std::env::var("CLASSPULSE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: {rounds} rounds, CLASSPULSE_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let dir = TempDir::new("crash");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (addr_tx, addr_rx) = watch::channel::<Option<String>>(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    let users: Vec<String> = (0..CLIENTS).map(|i| format!("crash{i}")).collect();
    let clients: Vec<_> = users
        .iter()
        .map(|u| {
            tokio::spawn(student(
                u.clone(),
                addr_rx.clone(),
                ledger.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    let acked_total = || -> usize {
        let l = ledger.lock().unwrap();
        l.conns.values().flatten().map(|c| c.acked).sum()
    };

    let mut kills = 0;
    for round in 0..rounds {
        let server = Server::start(dir.path(), &[]);
        let before = acked_total();
        addr_tx.send_replace(Some(server.addr.clone()));
        // Let load build up (some acks in this round), then kill at a random moment.
        let deadline = Instant::now() + T;
        while acked_total() < before + 50 {
            assert!(Instant::now() < deadline, "no progress in round {round}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.between(50, 700))).await;
        addr_tx.send_replace(None);
        server.signal("KILL");
        let mut server = server;
        assert_eq!(server.wait(T), None, "killed by a signal");
        kills += 1;
        eprintln!(
            "round {round}: killed after {} acknowledged events in total",
            acked_total()
        );
    }

    // A last server: the clients reconnect, send some more, then stop once every event they
    // sent is acknowledged.
    let server = Server::start(dir.path(), &[]);
    let before = acked_total();
    addr_tx.send_replace(Some(server.addr.clone()));
    let deadline = Instant::now() + T;
    while acked_total() < before + 100 {
        assert!(
            Instant::now() < deadline,
            "no progress after the last restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send_replace(true);
    for c in clients {
        tokio::time::timeout(T, c)
            .await
            .expect("clients finish")
            .unwrap();
    }
    // The router applies a batch right after it is acknowledged; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let safe_users: Vec<String> = users.iter().map(|u| format!("tc-testcase-{u}")).collect();
    let live = states(&server, &safe_users).await;
    let mut server = server;
    server.signal("KILL");
    server.wait(T);

    // The log: every acknowledged event exactly once; per connection a prefix of what it sent.
    let log = read_log(&dir.path().join("data/log"));
    let mut seqs = BTreeSet::new();
    let mut logged: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in &log {
        assert!(seqs.insert(line["seq"].as_u64().unwrap()), "seq twice");
        if line["client"]["event"] == "google_docs_save" {
            logged
                .entry(line["client"]["doc_id"].as_str().unwrap().to_owned())
                .or_default()
                .push(line["client"]["n"].as_u64().unwrap());
        }
    }
    assert_eq!(
        seqs.iter().copied().collect::<Vec<_>>(),
        (1..=log.len() as u64).collect::<Vec<_>>(),
        "sequence numbers are dense"
    );
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let (mut acked_events, mut found, mut unacked_durable) = (0usize, 0usize, 0usize);
    for (user, conns) in &ledger.conns {
        let mut count = 0u64;
        for c in conns {
            let in_log = logged.get(&c.doc).cloned().unwrap_or_default();
            assert!(
                in_log.len() <= c.sent.len() && in_log[..] == c.sent[..in_log.len()],
                "{}: the log holds {:?}, not a prefix of what was sent",
                c.doc,
                in_log
            );
            assert!(
                in_log.len() >= c.acked,
                "{}: {} acknowledged but {} in the log",
                c.doc,
                c.acked,
                in_log.len()
            );
            acked_events += c.acked;
            found += in_log.len().min(c.acked);
            unacked_durable += in_log.len() - c.acked;
            count += in_log.len() as u64;
            // The document's text is exactly its durable events' characters, in order.
            let key = format!("student:{user}|doc_id:{}", c.doc);
            let text: String = in_log.iter().map(|&n| glyph(n)).collect();
            let state = &live[user]["writing.reconstruct"];
            if in_log.is_empty() {
                assert!(state.get(&key).is_none(), "{key} has a state but no events");
            } else {
                let got = state
                    .get(&key)
                    .unwrap_or_else(|| panic!("no state for {key}"))["text"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no text in the state of {key}"));
                assert_eq!(got, text, "{key}");
            }
        }
        assert_eq!(
            live[user]["activity.event_count"][format!("student:{user}")]["count"],
            count,
            "{user}: every durable event counted once"
        );
    }
    assert_eq!(found, acked_events);

    // A fresh server on a copy of the log, in a new data directory, builds the same state.
    let fresh = TempDir::new("crash-replay");
    copy_dir(&dir.path().join("data/log"), &fresh.path().join("data/log"));
    let replayed = Server::start(fresh.path(), &[]);
    let rebuilt = states(&replayed, &safe_users).await;
    for u in &safe_users {
        assert_eq!(
            live[u], rebuilt[u],
            "{u}: live state differs from a fresh replay"
        );
    }
    replayed.stop();
    eprintln!(
        "crash test: {kills} SIGKILLs survived; {acked_events} events acknowledged, {found} found \
         in the log and the state ({unacked_durable} more were durable but unacknowledged); {} log \
         lines; live state = fresh replay for {} students; {:.1}s",
        log.len(),
        safe_users.len(),
        started.elapsed().as_secs_f64()
    );
}
