//! Shared helpers for the timetable's integration tests: a real runtime (and HTTP server on
//! 127.0.0.1:0) with a temporary data directory and a manual clock, imports through the real
//! path, and a minimal HTTP client.

#![allow(dead_code, unreachable_pub, missing_docs)]

use classpulse_core::clock::{ManualClock, SharedClock};
use classpulse_core::config::Config;
use classpulse_core::event::Timestamp;
use classpulse_core::module::Module;
use classpulse_core::runtime::{Runtime, RuntimeOptions};
use classpulse_core::server;
use classpulse_timetable::import::{Format, Plan, apply_live, plan, read_catalog};
use classpulse_timetable::{TimetableConfig, TimetableModule};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const ZONE: &str = "America/New_York";

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn config() -> TimetableConfig {
    TimetableConfig {
        time_zone: ZONE.into(),
        ..TimetableConfig::default()
    }
}

/// Instant of a wall-clock time in New York.
pub fn ny(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    let tz = jiff::tz::TimeZone::get(ZONE).unwrap();
    let ts = tz
        .to_timestamp(jiff::civil::date(y, mo, d).at(h, mi, 0, 0))
        .unwrap();
    Timestamp::from_micros(ts.as_microsecond())
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "classpulse-timetable-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Node {
    pub runtime: Arc<Runtime>,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Node {
    pub async fn start(dir: &TempDir, clock: &ManualClock, config: TimetableConfig) -> Node {
        let mut core = Config::default();
        core.server.data_dir = dir.0.clone();
        core.server.bind = "127.0.0.1:0".into();
        core.auth.token_secret = Some("a-test-secret-of-32-bytes-length".into());
        let clock: SharedClock = Arc::new(clock.clone());
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(TimetableModule::new(config.clone()))];
        let mut options = RuntimeOptions::new(core, modules);
        options.clock = clock;
        let runtime = Runtime::start(options).await.expect("runtime starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = server::routes(runtime.clone())
            .merge(classpulse_timetable::http::routes(runtime.clone(), config));
        let rt = runtime.clone();
        let task = tokio::spawn(async move {
            server::serve(rt, listener, app, std::future::pending())
                .await
                .unwrap();
        });
        Node {
            runtime,
            addr,
            task,
        }
    }

    pub async fn import(
        &self,
        text: &str,
        format: Format,
        course: Option<&str>,
        config: &TimetableConfig,
    ) -> Plan {
        let current = read_catalog(&self.runtime).await.unwrap();
        let p = plan(&current, text, format, course, config, Path::new("test")).unwrap();
        apply_live(&self.runtime, &p).await.unwrap();
        p
    }

    pub async fn stop(self) {
        self.runtime.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        self.runtime.shutdown().await;
    }

    pub fn log(&self) -> Vec<Value> {
        read_log(&self.runtime.log_dir())
    }

    /// GET as the administrator (the node's admin key).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let auth = format!("Bearer {}", self.runtime.admin_key);
        http(self.addr, "GET", path, &[("Authorization", &auth)], "").await
    }
}

pub fn read_log(dir: &Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|f| f.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            out.push(serde_json::from_str(line).expect("log lines are JSON"));
        }
    }
    out
}

/// A minimal HTTP/1.1 request over a real socket.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
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
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    (status, body)
}
