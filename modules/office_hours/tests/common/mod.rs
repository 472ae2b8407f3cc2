//! Helpers for the office-hours scenario tests: a real node in-process (on 127.0.0.1:0, with a
//! temporary data directory and a manual clock), the course roster, and page-like clients
//! over real `/wsapi/in/` sockets.

#![allow(dead_code, unreachable_pub, missing_docs)]

use classpulse_core::aggregator::StateReader;
use classpulse_core::auth::session::{Kind, Principal};
use classpulse_core::clock::{Clock, ManualClock, SharedClock};
use classpulse_core::config::Config;
use classpulse_core::event::Timestamp;
use classpulse_core::module::Module;
use classpulse_core::reducer::ScopeKey;
use classpulse_core::roster::Role;
use classpulse_core::roster::config::{DesiredCourse, DesiredMember};
use classpulse_core::runtime::{Runtime, RuntimeOptions};
use classpulse_core::server;
use classpulse_office_hours::state::QueueState;
use classpulse_office_hours::{OfficeHoursConfig, OfficeHoursModule, QUEUE_REDUCER, SOURCE};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub const T: Duration = Duration::from_secs(10);
pub const COURSE: &str = "C1";
/// 2026-09-14 09:00:00 UTC.
pub const START: Timestamp = Timestamp::from_millis(1_789_376_400_000);

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "classpulse-oh-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The safe user id of testcase user `name`.
pub fn id(name: &str) -> String {
    format!("tc-testcase-{name}")
}

/// Course C1: students s1..s6, TAs ta1 and ta2, teacher t1 (all testcase identities, so the
/// tests' sockets authenticate as them); course C2 with student z1.
pub fn roster() -> Vec<DesiredCourse> {
    let mut members: Vec<DesiredMember> = (1..=6)
        .map(|i| DesiredMember {
            user_id: id(&format!("s{i}")),
            name: format!("Student {i}"),
            email: String::new(),
            role: Role::Student,
        })
        .collect();
    for (who, role) in [("ta1", Role::Ta), ("ta2", Role::Ta), ("t1", Role::Teacher)] {
        members.push(DesiredMember {
            user_id: id(who),
            name: who.to_uppercase(),
            email: String::new(),
            role,
        });
    }
    vec![
        DesiredCourse {
            id: COURSE.into(),
            name: Some("Course One".into()),
            members,
        },
        DesiredCourse {
            id: "C2".into(),
            name: None,
            members: vec![DesiredMember {
                user_id: id("z1"),
                name: "Zed".into(),
                email: String::new(),
                role: Role::Student,
            }],
        },
    ]
}

pub struct TestServer {
    pub runtime: Arc<Runtime>,
    pub addr: SocketAddr,
    pub clock: ManualClock,
    pub config: OfficeHoursConfig,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts a node on `dir` with `oh` as `[modules.office_hours]` and imports the roster.
    pub async fn start(dir: &Path, clock: &ManualClock, oh: OfficeHoursConfig) -> TestServer {
        let mut config = Config::default();
        config.server.data_dir = dir.to_owned();
        config.server.bind = "127.0.0.1:0".into();
        config.sessions.secret = Some("a-session-secret-for-the-tests".into());
        config.modules.insert(
            "office_hours".into(),
            toml::Table::try_from(&oh).expect("config serializes"),
        );
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(OfficeHoursModule::new(oh.clone()))];
        let mut options = RuntimeOptions::new(config, modules);
        let shared: SharedClock = Arc::new(clock.clone());
        options.clock = shared;
        let runtime = Runtime::start(options).await.expect("runtime starts");
        classpulse_core::roster::import::import(
            &runtime.roster,
            &runtime.writer,
            &runtime.config.server.node_id,
            &roster(),
        )
        .await
        .expect("roster imported");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = server::routes(runtime.clone())
            .merge(classpulse_office_hours::http::routes(runtime.clone()));
        let rt = runtime.clone();
        let task = tokio::spawn(async move {
            server::serve(rt, listener, app, std::future::pending())
                .await
                .unwrap();
        });
        TestServer {
            runtime,
            addr,
            clock: clock.clone(),
            config: oh,
            task,
        }
    }

    pub async fn stop(self) {
        self.runtime.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        self.runtime.shutdown().await;
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/wsapi/in/", self.addr)
    }

    /// Waits until everything appended so far has been applied.
    pub async fn settle(&self) {
        for _ in 0..3 {
            let last = self.runtime.writer.next_seq().saturating_sub(1);
            assert!(
                self.runtime.stats.wait_applied(last, T).await,
                "event {last} applied"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// The course's queue as the node holds it.
    pub async fn queue(&self, course: &str) -> QueueState {
        let reader = StateReader::new(&*self.runtime.kvs, &self.runtime.registry);
        reader
            .with(
                QUEUE_REDUCER,
                &ScopeKey::course(course),
                |s: Option<&QueueState>| s.cloned().unwrap_or_default(),
            )
            .await
            .unwrap()
    }

    /// Moves the clock and waits for whatever that fires to be applied.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.settle().await;
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The log, as JSON lines.
    pub fn log(&self) -> Vec<Value> {
        let dir = self.runtime.log_dir();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<Value>>()
            })
            .collect()
    }

    /// A session cookie (`Cookie:` value) for `sub`.
    pub fn cookie(&self, sub: &str, kind: Kind, admin: bool) -> String {
        let p = Principal {
            sub: sub.into(),
            name: sub.into(),
            kind,
            admin,
            exp: self.runtime.now_secs() + 3600,
        };
        format!("classpulse_session={}", self.runtime.sessions.issue(&p))
    }

    /// An HTTP request over a real socket: (status, JSON body).
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(c) = cookie {
            req.push_str(&format!("Cookie: {c}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text[9..12].parse().unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// A page of testcase user `name`.
    pub async fn client(&self, name: &str) -> Client {
        let (mut ws, _) = tokio_tungstenite::connect_async(self.ws_url())
            .await
            .expect("connects");
        let fields = json!({"source": SOURCE, "user_id": name, "ack": true});
        ws.send(Message::Text(
            json!({"event": "lock_fields", "fields": fields})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let mut c = Client {
            ws,
            name: name.into(),
            inbox: VecDeque::new(),
            acked: 0,
            sent: 0,
        };
        // Authenticate now (testcase auth needs an event; a harmless unknown kind would be
        // refused by the reducer, so wait for the auth reply of the first real command instead).
        c.inbox.clear();
        c
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// A page: sends office-hours commands, collects what it is told.
pub struct Client {
    pub ws: Ws,
    pub name: String,
    pub inbox: VecDeque<Value>,
    acked: u64,
    sent: u64,
}

impl Client {
    async fn next(&mut self, timeout: Duration) -> Option<Value> {
        loop {
            let m = tokio::time::timeout(timeout, self.ws.next()).await.ok()??;
            match m {
                Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Sends a command to `course` (C1 unless the command names one) and waits until it is
    /// durable; returns its log sequence number.
    pub async fn send(&mut self, mut command: Value) -> u64 {
        if command.get("course_id").is_none() {
            command["course_id"] = json!(COURSE);
        }
        self.ws
            .send(Message::Text(command.to_string().into()))
            .await
            .unwrap();
        self.sent += 1;
        loop {
            let m = self
                .next(T)
                .await
                .unwrap_or_else(|| panic!("{}: no ack for {command}", self.name));
            if m["status"] == "ack" {
                self.acked = m["count"].as_u64().unwrap();
                if self.acked >= self.sent {
                    return m["seq"].as_u64().unwrap();
                }
            } else if m["status"] == "office_hours" {
                self.inbox.push_back(m);
            }
        }
    }

    /// Sends without waiting (for races).
    pub async fn send_now(&mut self, mut command: Value) {
        if command.get("course_id").is_none() {
            command["course_id"] = json!(COURSE);
        }
        self.sent += 1;
        self.ws
            .send(Message::Text(command.to_string().into()))
            .await
            .unwrap();
    }

    /// The next office-hours message whose `what` is `what` (earlier ones are dropped).
    pub async fn expect(&mut self, what: &str) -> Value {
        while let Some(m) = self.inbox.pop_front() {
            if m["what"] == what {
                return m;
            }
        }
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("{}: no {what:?} message", self.name));
            if m["status"] == "office_hours" && m["what"] == what {
                return m;
            }
        }
    }

    /// Whether a message with `what` arrives within `wait` (inbox first).
    pub async fn gets(&mut self, what: &str, wait: Duration) -> Option<Value> {
        if let Some(i) = self.inbox.iter().position(|m| m["what"] == what) {
            return self.inbox.remove(i);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.next(left).await?;
            if m["status"] == "office_hours" {
                if m["what"] == what {
                    return Some(m);
                }
                self.inbox.push_back(m);
            }
        }
    }
}

pub fn cmd(event: &str) -> Value {
    json!({"event": event})
}
