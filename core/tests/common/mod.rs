//! Shared helpers for the core's integration tests: a real server on 127.0.0.1:0 with a
//! temporary data directory, and WebSocket client helpers.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod modules;

use classpulse_core::clock::SharedClock;
use classpulse_core::config::Config;
use classpulse_core::module::Module;
use classpulse_core::runtime::{Runtime, RuntimeOptions};
use classpulse_core::server;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "classpulse-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
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

/// A running server.
pub struct TestServer {
    pub runtime: Arc<Runtime>,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(
        mut config: Config,
        data_dir: &Path,
        modules: Vec<Arc<dyn Module>>,
        clock: Option<SharedClock>,
    ) -> TestServer {
        config.server.data_dir = data_dir.to_owned();
        config.server.bind = "127.0.0.1:0".into();
        let mut options = RuntimeOptions::new(config, modules);
        if let Some(clock) = clock {
            options.clock = clock;
        }
        let runtime = Runtime::start(options).await.expect("runtime starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = server::routes(runtime.clone());
        let rt = runtime.clone();
        let task = tokio::spawn(async move {
            server::serve(rt, listener, app, std::future::pending())
                .await
                .unwrap();
        });
        TestServer {
            runtime,
            addr,
            task,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/wsapi/in/", self.addr)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET as the administrator (the node's admin key), as JSON.
    pub async fn get_as_admin(&self, path: &str) -> (u16, Value) {
        let auth = format!("Bearer {}", self.runtime.admin_key);
        let (status, body) = http_get_with(&self.http(path), &[("Authorization", &auth)]).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Shuts down in order and waits for it.
    pub async fn stop(self) {
        self.runtime.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        self.runtime.shutdown().await;
    }

    /// Every log line as JSON, in order.
    pub fn log(&self) -> Vec<Value> {
        read_log(&self.runtime.log_dir())
    }

    /// Waits until the router has applied everything appended so far.
    pub async fn settle(&self) {
        wait_for(|| {
            let next = self.runtime.writer.next_seq();
            async move { next }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for<F, Fut>(f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let mut last = f().await;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = f().await;
        if now == last {
            return;
        }
        last = now;
    }
}

pub fn read_log(dir: &Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            out.push(serde_json::from_str(line).expect("log lines are JSON"));
        }
    }
    out
}

pub async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    ws
}

pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.expect("sends");
}

pub async fn send_json(ws: &mut Ws, v: &Value) {
    send(ws, &v.to_string()).await;
}

/// The next text message as JSON, or None on close/timeout.
pub async fn recv(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    loop {
        let next = tokio::time::timeout(timeout, ws.next()).await.ok()??;
        match next {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Receives messages until one has `status == want`; returns it (None on timeout/close).
pub async fn recv_status(ws: &mut Ws, want: &str, timeout: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let v = recv(ws, left).await?;
        if v["status"] == want {
            return Some(v);
        }
    }
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let (status, body) = http_get(url).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A minimal HTTP/1.1 GET over a real socket (keeps test dependencies small).
pub async fn http_get(url: &str) -> (u16, String) {
    http_get_with(url, &[]).await
}

/// A GET with extra request headers.
pub async fn http_get_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(body: &str) -> String {
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
}
