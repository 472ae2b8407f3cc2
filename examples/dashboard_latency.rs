//! Dashboard latency benchmark: from an event's arrival to the dashboard update that reflects
//! it, with many students typing and many dashboards watching.
//!
//! It sets up everything in a temporary directory — a roster of `--courses` courses of
//! `--students-per-course` students, an administrator account — starts the release server
//! (`--bin`, default `target/release/classpulse`), signs in, opens `--dashboards` dashboard
//! sockets spread evenly over the courses, and starts the students: one WebSocket each,
//! sending writing-extension events (keystrokes, and a `google_docs_save` every 4th event) at
//! `--rate` events per second in total, `--burst` frames per write (default 10: at 50 events a
//! second a student's frames go out five times a second; `--burst 1` writes each frame alone,
//! as a browser does, which costs the server more per event). One student per
//! course is a probe: each of its events adds exactly one word, so when a dashboard receives
//! a row of the probe with word count k, events 1..=k are reflected and each one's latency is
//! (receipt − the moment it was sent). That counts from before the event reached the server,
//! so it is an upper bound of arrival-to-dashboard latency.
//!
//! ```text
//! cargo build --release --bin classpulse --example dashboard_latency
//! target/release/examples/dashboard_latency --duration 30
//! ```

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const PASSWORD: &str = "benchmark-password";
/// Dashboards' read buffer (see [`ws_config`]).
const DASHBOARD_READ_BUFFER: usize = 16 * 1024;

struct Args {
    bin: PathBuf,
    courses: usize,
    per_course: usize,
    dashboards: usize,
    rate: f64,
    duration: f64,
    warmup: f64,
    probe_rate: f64,
    burst: usize,
}

fn args() -> Args {
    let mut a = Args {
        bin: PathBuf::from("target/release/classpulse"),
        courses: 10,
        per_course: 100,
        dashboards: 100,
        rate: 50_000.0,
        duration: 30.0,
        warmup: 5.0,
        probe_rate: 10.0,
        burst: 10,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--bin" => a.bin = PathBuf::from(value),
            "--courses" => a.courses = value.parse().expect("--courses N"),
            "--students-per-course" => a.per_course = value.parse().expect("N"),
            "--dashboards" => a.dashboards = value.parse().expect("--dashboards N"),
            "--rate" => a.rate = value.parse().expect("--rate EVENTS_PER_SECOND"),
            "--duration" => a.duration = value.parse().expect("--duration SECONDS"),
            "--warmup" => a.warmup = value.parse().expect("--warmup SECONDS"),
            "--probe-rate" => a.probe_rate = value.parse().expect("--probe-rate N"),
            "--burst" => a.burst = value.parse().expect("--burst FRAMES"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a.bin = std::fs::canonicalize(&a.bin)
        .unwrap_or_else(|e| panic!("{}: {e} (build it: cargo build --release)", a.bin.display()));
    a
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn setup(dir: &Path, a: &Args) -> PathBuf {
    let mut roster = String::new();
    for c in 0..a.courses {
        roster.push_str(&format!(
            "[[course]]\nid = \"c{c}\"\nname = \"Course {c}\"\nmembers = [\n  {{ user_id = \"tc-testcase-probe-{c}\", name = \"Probe {c}\", role = \"student\" }},\n"
        ));
        for s in 0..a.per_course - 1 {
            let n = c * (a.per_course - 1) + s;
            roster.push_str(&format!(
                "  {{ user_id = \"tc-testcase-load-{n}\", name = \"Student {n}\", role = \"student\" }},\n"
            ));
        }
        roster.push_str("]\n\n");
    }
    std::fs::write(dir.join("roster.toml"), roster).unwrap();
    let mut child = Command::new(&a.bin)
        .current_dir(dir)
        .args(["user", "add", "bench", "--admin", "--file", "accounts.toml"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the classpulse binary runs (build it with --release)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let config = dir.join("config.toml");
    // Every dashboard is the one administrator's: lift the per-person limit (8 by default),
    // or all but 8 of them would be refused.
    std::fs::write(
        &config,
        format!(
            "[roster]\nfiles = [\"roster.toml\"]\n\n[accounts]\nfile = \"accounts.toml\"\n\n[dashboard]\nmax_dashboards_per_user = {}\n",
            a.dashboards.max(1)
        ),
    )
    .unwrap();
    config
}

async fn http_post(addr: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    (text[9..12].parse().unwrap(), text)
}

/// A frame with holes: the JSON text of a message, split where per-event values go, so that
/// each event costs a few copies instead of building and serializing a `serde_json::Value`
/// (at 50,000 events/s that was a good part of this generator's CPU, taken from the server
/// on shared cores). The bytes sent are the same as serializing the message.
struct Template {
    parts: Vec<String>,
}

/// What fills a hole of a [`Template`].
enum Hole<'a> {
    Str(&'a str),
    Num(usize),
}

impl Template {
    /// The serialization of `value`, split at every string equal to `"@@HOLE@@"`.
    fn new(value: &serde_json::Value) -> Template {
        let text = value.to_string();
        Template {
            parts: text.split("\"@@HOLE@@\"").map(str::to_owned).collect(),
        }
    }

    fn fill(&self, holes: &[Hole<'_>]) -> String {
        debug_assert_eq!(holes.len() + 1, self.parts.len());
        let mut out = String::with_capacity(self.parts.iter().map(String::len).sum::<usize>() + 32);
        out.push_str(&self.parts[0]);
        for (hole, part) in holes.iter().zip(&self.parts[1..]) {
            match hole {
                Hole::Str(s) => push_json_string(&mut out, s),
                Hole::Num(n) => {
                    use std::fmt::Write as _;
                    let _ = write!(out, "{n}");
                }
            }
            out.push_str(part);
        }
        out
    }
}

/// `s` as a JSON string, escaped as `serde_json` does.
fn push_json_string(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::from(s).to_string());
    }
}

const HOLE: &str = "@@HOLE@@";

/// A keystroke of `doc`; one hole: the key.
fn keystroke_template(doc: &str) -> Template {
    Template::new(&serde_json::json!({
        "event": "keystroke", "event_type": "keystroke", "frameindex": "0",
        "keystroke": {"altKey": false, "charCode": 0, "code": "KeyA", "ctrlKey": false,
            "isTrusted": true, "key": HOLE, "keyCode": 65, "metaKey": false,
            "shiftKey": false, "target.className": "docs-texteventtarget-iframe",
            "timeStamp": 1000.0, "type": "keydown", "which": 65},
        "metadata": {"iso_ts": "2026-11-24T07:07:52.574Z"},
        "object": {"id": doc, "tab_id": "t.0", "title": "Essay",
            "url": format!("https://docs.google.com/document/d/{doc}/edit?tab=t.0")},
        "readyState": "complete", "wa_source": "client_page",
    }))
}

/// A `google_docs_save` of `doc` inserting text; holes: the insertion index, the request id
/// (the same index) and the text.
fn save_template(doc: &str) -> Template {
    Template::new(&serde_json::json!({
        "event": "google_docs_save", "doc_id": doc, "tab_id": "t.0",
        "url": format!("https://docs.google.com/document/d/{doc}/save?id={doc}"),
        "bundles": [{"commands": [{"ty": "is", "ibi": HOLE, "s": HOLE}], "sid": "s", "reqId": HOLE}],
        "metadata": {"iso_ts": "2026-11-24T07:07:52.574Z"},
    }))
}

/// A save inserting `text` at `ibi` (the holes in the order the serialization has them).
fn save(template: &Template, ibi: usize, text: &str) -> String {
    template.fill(&[Hole::Num(ibi), Hole::Str(text), Hole::Num(ibi)])
}

/// Checks that the templates' holes are where this program fills them.
fn check_templates() {
    let v: serde_json::Value =
        serde_json::from_str(&save(&save_template("d"), 7, "a \"b\"")).unwrap();
    let command = &v["bundles"][0]["commands"][0];
    assert_eq!(
        (&command["ibi"], &command["s"]),
        (&7.into(), &"a \"b\"".into())
    );
    assert_eq!(v["bundles"][0]["reqId"], 7);
    let v: serde_json::Value =
        serde_json::from_str(&keystroke_template("d").fill(&[Hole::Str("x")])).unwrap();
    assert_eq!(
        (&v["keystroke"]["key"], &v["object"]["id"]),
        (&"x".into(), &"d".into())
    );
}

/// Tungstenite zeroes the free part of its read buffer before every read: with the default
/// 128 KiB that memset costs more than the reading. Students receive nothing; dashboards read
/// messages of a few KiB to a few tens of KiB.
fn ws_config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(read_buffer)
}

async fn student(url: String, user: String) -> Ws {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(ws_config(4096)), false)
            .await
            .expect("connects");
    let header = serde_json::json!({"event": "lock_fields", "fields": {
        "source": "org.mitros.writing_analytics", "version": "1.0", "user_id": user}});
    ws.send(Message::Text(header.to_string().into()))
        .await
        .unwrap();
    ws
}

/// The word count of a student's row in a dashboard message, found without parsing the rest
/// (`key` is `"student-id":{`).
fn probe_words(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)?;
    let row = &text[at + key.len()..];
    let end = row.find('}').unwrap_or(row.len());
    let wc = row[..end].find("\"word_count\":")?;
    let digits: String = row[wc + 13..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    check_templates();
    let dir = std::env::temp_dir().join(format!("classpulse-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = setup(&dir, &a);
    let mut server = Command::new(&a.bin)
        .current_dir(&dir)
        .args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--bind",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server starts").unwrap();
        if let Some(rest) = line.strip_prefix("classpulse listening on http://") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let pid = server.id();

    let (status, response) = http_post(
        &addr,
        "/auth/login",
        &serde_json::json!({"user": "bench", "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let cookie = response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();

    // Probe send times, per course: sent[c][k-1] = when the k-th probe event left.
    let sent: Arc<Vec<Mutex<Vec<Instant>>>> =
        Arc::new((0..a.courses).map(|_| Mutex::new(Vec::new())).collect());
    let samples: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::new()));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dash_messages = Arc::new(AtomicU64::new(0));
    let dash_bytes = Arc::new(AtomicU64::new(0));

    // Dashboards.
    let mut ready = Vec::new();
    for d in 0..a.dashboards {
        let course = d % a.courses;
        let mut request = format!("ws://{addr}/wsapi/dashboard")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Cookie", cookie.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
            request,
            Some(ws_config(DASHBOARD_READ_BUFFER)),
            false,
        )
        .await
        .unwrap();
        let sub = serde_json::json!({"type": "subscribe", "course": format!("c{course}"), "view": "writing.class"});
        ws.send(Message::Text(sub.to_string().into()))
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(rx);
        let (sent, samples, measuring) = (sent.clone(), samples.clone(), measuring.clone());
        let (dash_messages, dash_bytes) = (dash_messages.clone(), dash_bytes.clone());
        tokio::spawn(async move {
            let probe_key = format!("\"tc-testcase-probe-{course}\":{{");
            let mut seen = 0u64;
            let mut tx = Some(tx);
            while let Some(Ok(m)) = ws.next().await {
                let Message::Text(text) = m else { continue };
                let now = Instant::now();
                dash_messages.fetch_add(1, Ordering::Relaxed);
                dash_bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                if tx.is_some()
                    && text.as_str().contains("\"type\":\"snapshot\"")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
                if let Some(words) = probe_words(text.as_str(), &probe_key)
                    && words > seen
                {
                    let times = sent[course].lock().unwrap();
                    let mut out = Vec::new();
                    for k in seen + 1..=words {
                        if let Some(at) = times.get(k as usize - 1) {
                            out.push(now.duration_since(*at).as_micros() as u32);
                        }
                    }
                    drop(times);
                    seen = words;
                    if measuring.load(Ordering::Relaxed) {
                        samples.lock().unwrap().extend(out);
                    }
                }
            }
        });
    }
    for (d, r) in ready.into_iter().enumerate() {
        r.await
            .unwrap_or_else(|_| panic!("dashboard {d} closed before its snapshot (refused?)"));
    }
    eprintln!(
        "{} dashboards subscribed; starting {} students",
        a.dashboards,
        a.courses * a.per_course
    );

    // Students: load, then one probe per course.
    let url = format!("ws://{addr}/wsapi/in/");
    let load_students = a.courses * (a.per_course - 1);
    let probe_total = a.probe_rate * a.courses as f64;
    let per_student = ((a.rate - probe_total) / load_students as f64).max(0.1);
    let load_sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..load_students {
        let ws = student(url.clone(), format!("load-{n}")).await;
        let (load_sent, stop, burst) = (load_sent.clone(), stop.clone(), a.burst);
        tasks.push(tokio::spawn(async move {
            // Students are never sent anything: the socket is only written.
            let mut sink = ws;
            let doc = format!("bench-doc-{n}");
            let (keystroke, save_frame) = (keystroke_template(&doc), save_template(&doc));
            let words = ["rivers ", "carve ", "deep ", "valleys ", "slowly "];
            let text: String = words
                .iter()
                .cycle()
                .skip(n % 5)
                .take(400)
                .copied()
                .collect();
            let chars: Vec<char> = text.chars().collect();
            let burst = burst.max(1);
            let mut ticker =
                tokio::time::interval(Duration::from_secs_f64(burst as f64 / per_student));
            // Spread the students' phases.
            tokio::time::sleep(Duration::from_secs_f64(
                (n % 97) as f64 / 97.0 * burst as f64 / per_student,
            ))
            .await;
            let (mut i, mut written, mut pending) = (0usize, 0usize, String::new());
            while !stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                for _ in 0..burst {
                    let ch = chars[i % chars.len()];
                    i += 1;
                    pending.push(ch);
                    let frame = if i % 4 == 0 {
                        let f = save(&save_frame, written + 1, &pending);
                        written += pending.chars().count();
                        pending.clear();
                        f
                    } else {
                        keystroke.fill(&[Hole::Str(ch.encode_utf8(&mut [0; 4]))])
                    };
                    if sink.feed(Message::Text(frame.into())).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
                load_sent.fetch_add(burst as u64, Ordering::Relaxed);
            }
        }));
    }
    for c in 0..a.courses {
        let ws = student(url.clone(), format!("probe-{c}")).await;
        let (sent, stop, rate) = (sent.clone(), stop.clone(), a.probe_rate);
        tasks.push(tokio::spawn(async move {
            let mut sink = ws;
            let doc = format!("probe-doc-{c}");
            let save_frame = save_template(&doc);
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                // Each probe event adds one word: " w" at the end.
                let frame = save(&save_frame, 2 * k + 1, " w");
                sent[c].lock().unwrap().push(Instant::now());
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
                k += 1;
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let (sent0, msgs0, bytes0, cpu0, t0) = (
        load_sent.load(Ordering::Relaxed),
        dash_messages.load(Ordering::Relaxed),
        dash_bytes.load(Ordering::Relaxed),
        cpu_secs(pid),
        Instant::now(),
    );
    let own0 = cpu_secs(std::process::id());
    tokio::time::sleep(Duration::from_secs_f64(a.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let events = load_sent.load(Ordering::Relaxed) - sent0;
    let msgs = dash_messages.load(Ordering::Relaxed) - msgs0;
    let bytes = dash_bytes.load(Ordering::Relaxed) - bytes0;
    let cpu = cpu_secs(pid) - cpu0;
    let own = cpu_secs(std::process::id()) - own0;
    stop.store(true, Ordering::Relaxed);

    let mut v = samples.lock().unwrap().clone();
    v.sort_unstable();
    let pct = |p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        f64::from(v[((p / 100.0) * (v.len() - 1) as f64).round() as usize]) / 1000.0
    };
    let probe_events = (a.probe_rate * a.courses as f64 * secs).round();
    println!(
        "{} courses x {} students, {} dashboards, default coalescing, {} frames per write; measured {:.1} s after {:.0} s warm-up",
        a.courses, a.per_course, a.dashboards, a.burst, secs, a.warmup
    );
    println!(
        "students sent {:.0} events/s (target {:.0}); dashboards received {:.0} messages/s, {:.1} MB/s",
        (events as f64 + probe_events) / secs,
        a.rate,
        msgs as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    println!(
        "event sent -> dashboard update: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(100.0),
        v.len()
    );
    println!(
        "server CPU {:.2} cores; this load generator and its dashboards {:.2} cores",
        cpu / secs,
        own / secs
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
