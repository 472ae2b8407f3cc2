//! Helpers for end-to-end tests: the real `classpulse` binary (the debug build cargo made
//! for these tests) on a free port with a temporary data directory, plus WebSocket and HTTP
//! clients over real sockets.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod cdp;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const BIN: &str = env!("CARGO_BIN_EXE_classpulse");

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
            "classpulse-e2e-{tag}-{}-{}-{nanos}",
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

/// A running `classpulse serve`.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub data_dir: PathBuf,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `classpulse serve` on 127.0.0.1:0 in `dir` (cwd), with extra args.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(dir, extra, &[])
    }

    pub fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_at(dir, "127.0.0.1:0", extra, env)
    }

    /// Starts `classpulse serve` on `bind` (e.g. the address of a server that just stopped).
    pub fn start_at(dir: &Path, bind: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let data_dir = dir.join("data");
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .args(["serve", "--bind", bind, "--data-dir"])
            .arg(&data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the classpulse binary starts");
        let stderr_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr_text.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let out_sink = stdout_text.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                {
                    let mut s = out_sink.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
                if let Some(rest) = line
                    .strip_prefix("classpulse listening on http://")
                    .or_else(|| line.strip_prefix("classpulse listening on https://"))
                {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start:\n{}", stderr_text.lock().unwrap());
            }
        };
        Server {
            child,
            addr,
            data_dir,
            stderr: stderr_text,
            stdout: stdout_text,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/wsapi/in/", self.addr)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Sends a signal (by name, e.g. "TERM", "INT", "KILL").
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not exit in {timeout:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait; asserts a clean exit.
    pub fn stop(mut self) {
        self.signal("TERM");
        let code = self.wait(Duration::from_secs(30));
        assert_eq!(code, Some(0), "clean exit; stderr:\n{}", self.stderr());
    }

    pub fn log(&self) -> Vec<Value> {
        read_log(&self.data_dir.join("log"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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

/// Receives until a message has `status == want`.
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

/// A minimal HTTP/1.1 GET over a real socket.
pub async fn http_get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let (status, body) = http_get(url).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The conformance fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance")
}

/// Lines of a JSON-lines file.
pub fn jsonl(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// An HTTP/1.1 request over a real socket: returns (status, headers lower-cased, body).
pub async fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, headers, body)
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

impl Server {
    /// The admin key the server published in its data directory.
    pub fn admin_key(&self) -> String {
        let v: Value =
            serde_json::from_slice(&std::fs::read(self.data_dir.join("admin.json")).unwrap())
                .unwrap();
        v["key"].as_str().unwrap().to_owned()
    }

    /// GET as the administrator (the admin key), as JSON.
    pub async fn get_as_admin(&self, path: &str) -> (u16, Value) {
        let auth = format!("Bearer {}", self.admin_key());
        let (status, _, body) =
            http_request("GET", &self.http(path), &[("Authorization", &auth)], b"").await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// Runs the binary with `args`; returns (success, stdout, stderr).
pub fn run_cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`run_cli`] from an async test: on a blocking thread, so the test's runtime (and a server
/// client it drives) keeps running while the command does.
#[allow(dead_code)]
pub async fn run_cli_async(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        run_cli(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("the command's thread finishes")
}

/// Adds a staff account to `file` with `classpulse user add` (password on stdin).
pub fn add_user(dir: &Path, file: &Path, user: &str, name: &str, password: &str, admin: bool) {
    use std::io::Write;
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(["user", "add", user, "--name", name, "--file"])
        .arg(file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if admin {
        cmd.arg("--admin");
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs in; returns the `Cookie` header value for the session (panics when refused).
pub async fn login(server: &Server, user: &str, password: &str) -> String {
    let body = serde_json::json!({"user": user, "password": password}).to_string();
    let (status, headers, text) = http_request(
        "POST",
        &server.http("/auth/login"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "sign-in of {user}: {text}");
    let set = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    set.split(';').next().unwrap().to_owned()
}

/// Opens `/wsapi/dashboard` with the given cookie (and optional Origin); `recv_buffer` sets
/// the client's socket receive buffer (a small one makes a stalled reader stall quickly).
pub async fn dashboard_socket(
    server: &Server,
    cookie: Option<&str>,
    origin: Option<&str>,
    recv_buffer: Option<u32>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/wsapi/dashboard", server.addr)
        .into_client_request()
        .unwrap();
    if let Some(c) = cookie {
        request.headers_mut().insert("Cookie", c.parse().unwrap());
    }
    if let Some(o) = origin {
        request.headers_mut().insert("Origin", o.parse().unwrap());
    }
    let addr: std::net::SocketAddr = server.addr.parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await?;
    Ok(ws)
}

/// Receives until a message has `type == want`.
pub async fn recv_type(ws: &mut Ws, want: &str, timeout: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let v = recv(ws, left).await?;
        if v["type"] == want {
            return Some(v);
        }
    }
}

/// The resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}
