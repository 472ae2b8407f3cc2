//! Office-hours load benchmark: commands per second sustained, and the latency from a TA's
//! "call next" to the called student's page being told.
//!
//! It sets up a temporary directory with a roster of `--courses` courses, each with
//! `--students-per-course` enrolled students and `--tas-per-course` TAs, starts the release
//! server (`--bin`, default `target/release/classpulse`; fsync on, the default config, no
//! per-connection rate limit) and opens the pages: `--open-per-course` students per course and
//! every TA, each a `/wsapi/in/` WebSocket, spread over `--addresses` loopback source addresses
//! (127.0.0.2, 127.0.0.3, …: one address has ~28,000 ephemeral ports).
//!
//! Then everyone acts as in real office hours, driven by what their page is told:
//! - a TA goes on duty (which calls the first student), and whenever their session ends (or
//!   an offer is declined) calls the next student — at most once per `--cycle` seconds;
//! - a called student accepts at once; the TA ends the session after `--service-ms`;
//! - a student whose session ended, or who left, joins again after `--rejoin-ms`; a waiting
//!   student cancels after an exponentially distributed patience of mean `--patience` seconds.
//!
//! Each `call_next` is timed from just before the TA's frame is written to the moment the
//! called student's socket delivers its `offer` notification (both in this process): that
//! includes both client hops, the log commit (fsync), the reducer and the notifier.
//!
//! ```text
//! cargo build --release --bin classpulse --example office_hours_load
//! target/release/examples/office_hours_load --duration 30
//! ```

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::time::Instant as TokioInstant;
use tokio_tungstenite::tungstenite::Message;

const SOURCE: &str = "org.classpulse.office_hours";

struct Args {
    bin: PathBuf,
    courses: usize,
    students: usize,
    open: usize,
    tas: usize,
    addresses: u8,
    cycle: f64,
    service_ms: u64,
    rejoin_ms: u64,
    patience: f64,
    duration: f64,
    warmup: f64,
    /// Extra lines for the server's config.toml (`--config-extra`), e.g. `[log]\nfsync = false`.
    config_extra: String,
}

fn args() -> Args {
    let mut a = Args {
        bin: PathBuf::from("target/release/classpulse"),
        courses: 1000,
        students: 30,
        open: 10,
        tas: 2,
        addresses: 4,
        cycle: 1.5,
        service_ms: 300,
        rejoin_ms: 200,
        patience: 20.0,
        duration: 30.0,
        warmup: 10.0,
        config_extra: String::new(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        let bad = |what: &str| -> ! { panic!("{} {what}", argv[i]) };
        match argv[i].as_str() {
            "--bin" => a.bin = PathBuf::from(value),
            "--courses" => a.courses = value.parse().unwrap_or_else(|_| bad("N")),
            "--students-per-course" => a.students = value.parse().unwrap_or_else(|_| bad("N")),
            "--open-per-course" => a.open = value.parse().unwrap_or_else(|_| bad("N")),
            "--tas-per-course" => a.tas = value.parse().unwrap_or_else(|_| bad("N")),
            "--addresses" => a.addresses = value.parse().unwrap_or_else(|_| bad("N (1-250)")),
            "--cycle" => a.cycle = value.parse().unwrap_or_else(|_| bad("SECONDS")),
            "--service-ms" => a.service_ms = value.parse().unwrap_or_else(|_| bad("MS")),
            "--rejoin-ms" => a.rejoin_ms = value.parse().unwrap_or_else(|_| bad("MS")),
            "--patience" => a.patience = value.parse().unwrap_or_else(|_| bad("SECONDS")),
            "--duration" => a.duration = value.parse().unwrap_or_else(|_| bad("SECONDS")),
            "--warmup" => a.warmup = value.parse().unwrap_or_else(|_| bad("SECONDS")),
            "--config-extra" => a.config_extra = value.replace("\\n", "\n"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    assert!(
        a.open <= a.students,
        "--open-per-course ≤ --students-per-course"
    );
    assert!((1..=250).contains(&a.addresses), "--addresses 1..=250");
    a.bin = std::fs::canonicalize(&a.bin)
        .unwrap_or_else(|e| panic!("{}: {e} (build it: cargo build --release)", a.bin.display()));
    a
}

fn student_id(a: &Args, course: usize, i: usize) -> String {
    format!("s{}", course * a.students + i)
}

fn ta_id(a: &Args, course: usize, j: usize) -> String {
    format!("ta{}", course * a.tas + j)
}

fn setup(dir: &Path, a: &Args) -> PathBuf {
    let mut roster = String::with_capacity(a.courses * a.students * 80);
    for c in 0..a.courses {
        roster.push_str(&format!(
            "[[course]]\nid = \"c{c}\"\nname = \"Course {c}\"\nmembers = [\n"
        ));
        for i in 0..a.students {
            let s = student_id(a, c, i);
            roster.push_str(&format!(
                "  {{ user_id = \"tc-testcase-{s}\", name = \"Student {s}\", role = \"student\" }},\n"
            ));
        }
        for j in 0..a.tas {
            let t = ta_id(a, c, j);
            roster.push_str(&format!(
                "  {{ user_id = \"tc-testcase-{t}\", name = \"TA {t}\", role = \"ta\" }},\n"
            ));
        }
        roster.push_str("]\n\n");
    }
    std::fs::write(dir.join("roster.toml"), roster).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[roster]\nfiles = [\"roster.toml\"]\n\n[ingest]\nmax_events_per_second = 0\n\n{}\n",
            a.config_extra
        ),
    )
    .unwrap();
    config
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A page's socket from source address 127.0.0.`source`, with its lock fields sent (asking
/// for acks when `acks`).
async fn page(server: SocketAddr, source: u8, user: &str, course: &str, acks: bool) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)),
            0,
        ))
        .unwrap();
    let stream = socket.connect(server).await.expect("connects");
    stream.set_nodelay(true).unwrap();
    // Small read buffer like the server's: tungstenite zeroes the free part of its read
    // buffer before each read, and with the default (128 KiB) that memset was more than half
    // of this generator's CPU — time taken from the server on two shared cores.
    let config =
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{server}/wsapi/in/"),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await
    .expect("upgrades");
    let header = serde_json::json!({"event": "lock_fields", "fields": {
        "source": SOURCE, "user_id": user, "course_id": course, "ack": acks}});
    ws.send(Message::Text(header.to_string().into()))
        .await
        .unwrap();
    ws
}

fn command(kind: &str) -> Message {
    Message::Text(format!("{{\"event\":\"{kind}\"}}").into())
}

/// What everyone shares.
struct Shared {
    /// When each TA (safe user id) last wrote a `call_next`, until its student is told.
    calls: Mutex<HashMap<String, Instant>>,
    /// Call → notification latencies measured in the window, in µs.
    samples: Mutex<Vec<u32>>,
    /// Call → the server's ack of it (durable in the log), in µs.
    acked: Mutex<Vec<u32>>,
    measuring: AtomicBool,
    stop: AtomicBool,
    commands: AtomicU64,
    messages: AtomicU64,
    /// `{"status":"resync"}` messages: the server dropped notifications.
    resyncs: AtomicU64,
}

/// The `what` of an office-hours notification, found without parsing the rest.
fn what(text: &str) -> Option<&str> {
    let at = text.find("\"what\":\"")? + 8;
    let rest = &text[at..];
    Some(&rest[..rest.find('"')?])
}

/// A tiny xorshift generator (no dependency).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn exp(&mut self, mean: f64) -> Duration {
        Duration::from_secs_f64(-mean * (1.0 - self.next()).ln())
    }
}

async fn student(ws: Ws, a: Arc<Args>, shared: Arc<Shared>, seed: u64) {
    let (mut sink, mut stream) = ws.split();
    let mut rng = Rng(seed | 1);
    let rejoin = Duration::from_millis(a.rejoin_ms);
    // Start within the first second, spread.
    let mut next_join = Some(TokioInstant::now() + Duration::from_secs_f64(rng.next()));
    let mut give_up: Option<TokioInstant> = None;
    let far = TokioInstant::now() + Duration::from_secs(86_400);
    loop {
        let wake = next_join.or(give_up).unwrap_or(far);
        tokio::select! {
            m = stream.next() => {
                let Some(Ok(Message::Text(text))) = m else { return };
                let now = Instant::now();
                shared.messages.fetch_add(1, Ordering::Relaxed);
                if text.as_str().contains("\"resync\"") {
                    shared.resyncs.fetch_add(1, Ordering::Relaxed);
                }
                match what(text.as_str()) {
                    Some("offer") => {
                        give_up = None;
                        let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                        if let Some(ta) = v["me"]["offer"]["ta"].as_str()
                            && let Some(at) = shared.calls.lock().unwrap().remove(ta)
                            && shared.measuring.load(Ordering::Relaxed)
                        {
                            shared.samples.lock().unwrap().push(now.duration_since(at).as_micros() as u32);
                        }
                        if sink.send(command("offer_accepted")).await.is_err() { return }
                        shared.commands.fetch_add(1, Ordering::Relaxed);
                    }
                    Some("joined") => give_up = Some(TokioInstant::now() + rng.exp(a.patience)),
                    Some("ended" | "left" | "removed" | "expired") => {
                        give_up = None;
                        next_join = Some(TokioInstant::now() + rejoin);
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(wake) => {
                if shared.stop.load(Ordering::Relaxed) { return }
                let kind = if next_join.take().is_some() { "join" } else { give_up = None; "cancel" };
                if sink.send(command(kind)).await.is_err() { return }
                shared.commands.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn ta(ws: Ws, id: String, a: Arc<Args>, shared: Arc<Shared>, seed: u64) {
    let (mut sink, mut stream) = ws.split();
    let mut rng = Rng(seed | 1);
    let cycle = Duration::from_secs_f64(a.cycle);
    let service = Duration::from_millis(a.service_ms);
    // Open office hours within the first two seconds (going on duty calls a student).
    let mut last_call = TokioInstant::now() + Duration::from_secs_f64(2.0 * rng.next());
    let mut next: Option<(TokioInstant, &str)> = Some((last_call, "ta_on_duty"));
    let far = TokioInstant::now() + Duration::from_secs(86_400);
    // Frames sent, and the calls not acknowledged yet: (frame number, when).
    let mut sent = 0u64;
    let mut unacked: std::collections::VecDeque<(u64, Instant)> = Default::default();
    loop {
        let wake = next.map_or(far, |(t, _)| t);
        tokio::select! {
            m = stream.next() => {
                let Some(Ok(Message::Text(text))) = m else { return };
                shared.messages.fetch_add(1, Ordering::Relaxed);
                if text.as_str().contains("\"resync\"") {
                    shared.resyncs.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(rest) = text.as_str().strip_prefix("{\"status\":\"ack\",\"count\":") {
                    let count: u64 = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("0").parse().unwrap_or(0);
                    let now = Instant::now();
                    while unacked.front().is_some_and(|(n, _)| *n <= count) {
                        let (_, at) = unacked.pop_front().unwrap();
                        if shared.measuring.load(Ordering::Relaxed) {
                            shared.acked.lock().unwrap().push(now.duration_since(at).as_micros() as u32);
                        }
                    }
                    continue;
                }
                match what(text.as_str()) {
                    // The answer to a call (or to going on duty): nobody waiting means the next
                    // student who joins is called for this TA; that is not a timed call.
                    Some("offer" | "on_duty") if text.as_str().contains("\"offer\":null") => {
                        shared.calls.lock().unwrap().remove(&id);
                    }
                    Some("session") => next = Some((TokioInstant::now() + service, "session_ended")),
                    Some("ended" | "declined" | "withdrawn" | "expired") => {
                        let at = (last_call + cycle).max(TokioInstant::now());
                        next = Some((at, "call_next"));
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(wake) => {
                if shared.stop.load(Ordering::Relaxed) { return }
                let Some((_, kind)) = next.take() else { continue };
                sent += 1;
                if kind != "session_ended" {
                    last_call = TokioInstant::now();
                    shared.calls.lock().unwrap().insert(id.clone(), Instant::now());
                    unacked.push_back((sent, Instant::now()));
                }
                if sink.send(command(kind)).await.is_err() { return }
                shared.commands.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
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
    let a = Arc::new(args());
    let dir = std::env::temp_dir().join(format!("classpulse-oh-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = setup(&dir, &a);
    let started = Instant::now();
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
    let addr: SocketAddr = loop {
        let line = lines.next().expect("the server starts").unwrap();
        if let Some(rest) = line.strip_prefix("classpulse listening on http://") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let pid = server.id();
    eprintln!(
        "server up in {:.1} s ({} courses, {} students enrolled, {} TAs); opening pages",
        started.elapsed().as_secs_f64(),
        a.courses,
        a.courses * a.students,
        a.courses * a.tas
    );

    let shared = Arc::new(Shared {
        calls: Mutex::new(HashMap::new()),
        samples: Mutex::new(Vec::new()),
        acked: Mutex::new(Vec::new()),
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        commands: AtomicU64::new(0),
        messages: AtomicU64::new(0),
        resyncs: AtomicU64::new(0),
    });

    // Open every page first (a few hundred at a time), then let everyone act.
    struct Pending {
        user: String,
        course: String,
        is_ta: bool,
    }
    let mut pending = Vec::new();
    for c in 0..a.courses {
        for i in 0..a.open {
            pending.push(Pending {
                user: student_id(&a, c, i),
                course: format!("c{c}"),
                is_ta: false,
            });
        }
        for j in 0..a.tas {
            pending.push(Pending {
                user: ta_id(&a, c, j),
                course: format!("c{c}"),
                is_ta: true,
            });
        }
    }
    let opening = Instant::now();
    let mut pages: Vec<(Ws, Pending)> = Vec::with_capacity(pending.len());
    let mut n = 0usize;
    for chunk in pending.chunks(256) {
        let opened = futures_util::future::join_all(chunk.iter().map(|p| {
            let source = 2 + (n % a.addresses as usize) as u8;
            n += 1;
            page(addr, source, &p.user, &p.course, p.is_ta)
        }))
        .await;
        pages.extend(opened.into_iter().zip(chunk.iter().map(|p| Pending {
            user: p.user.clone(),
            course: p.course.clone(),
            is_ta: p.is_ta,
        })));
    }
    eprintln!(
        "{} pages open in {:.1} s from {} source addresses; office hours start",
        pages.len(),
        opening.elapsed().as_secs_f64(),
        a.addresses
    );
    for (k, (ws, p)) in pages.into_iter().enumerate() {
        let (a, shared) = (a.clone(), shared.clone());
        let seed = 0x9E37_79B9_7F4A_7C15u64 ^ (k as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        if p.is_ta {
            tokio::spawn(ta(ws, format!("tc-testcase-{}", p.user), a, shared, seed));
        } else {
            tokio::spawn(student(ws, a, shared, seed));
        }
    }

    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    shared.measuring.store(true, Ordering::Relaxed);
    let (cmd0, msg0, cpu0, own0, t0) = (
        shared.commands.load(Ordering::Relaxed),
        shared.messages.load(Ordering::Relaxed),
        cpu_secs(pid),
        cpu_secs(std::process::id()),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs_f64(a.duration)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let commands = shared.commands.load(Ordering::Relaxed) - cmd0;
    let messages = shared.messages.load(Ordering::Relaxed) - msg0;
    let cpu = cpu_secs(pid) - cpu0;
    let own = cpu_secs(std::process::id()) - own0;
    shared.stop.store(true, Ordering::Relaxed);

    let mut v = shared.samples.lock().unwrap().clone();
    v.sort_unstable();
    let pct = |p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        f64::from(v[((p / 100.0) * (v.len() - 1) as f64).round() as usize]) / 1000.0
    };
    println!(
        "{} courses, {} students enrolled, {} pages open ({} students, {} TAs) over {} source addresses; measured {:.1} s after {:.0} s warm-up",
        a.courses,
        a.courses * a.students,
        a.courses * (a.open + a.tas),
        a.courses * a.open,
        a.courses * a.tas,
        a.addresses,
        secs,
        a.warmup
    );
    println!(
        "commands sent {:.0}/s (join, cancel, call_next, offer_accepted, session_ended); notifications received {:.0}/s",
        commands as f64 / secs,
        messages as f64 / secs
    );
    println!(
        "call_next -> student's offer notification: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} calls)",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(100.0),
        v.len()
    );
    let mut acks = shared.acked.lock().unwrap().clone();
    acks.sort_unstable();
    let apct = |p: f64| -> f64 {
        if acks.is_empty() {
            return f64::NAN;
        }
        f64::from(acks[((p / 100.0) * (acks.len() - 1) as f64).round() as usize]) / 1000.0
    };
    println!(
        "call_next -> its ack (durable in the log): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
        apct(50.0),
        apct(90.0),
        apct(99.0)
    );
    println!(
        "pages told to resync (notifications dropped by the server): {}",
        shared.resyncs.load(Ordering::Relaxed)
    );
    println!(
        "server CPU {:.2} cores; this load generator {:.2} cores",
        cpu / secs,
        own / secs
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
