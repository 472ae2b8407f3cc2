//! Shared by the example's socket and browser tests: a server with the hands module, a
//! course C1 (teacher t.a; students Ann and Bo), sign-in, and students' ingest sockets.

#![allow(dead_code, unreachable_pub, missing_docs)]

#[path = "../../../../tests/common/cdp.rs"]
pub mod cdp;

use classpulse_core::auth::accounts::{Account, hash_password};
use classpulse_core::config::Config;
use classpulse_core::module::Module;
use classpulse_core::runtime::{Runtime, RuntimeOptions};
use classpulse_core::server;
use classpulse_example_hands::{HandsModule, SOURCE};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const T: Duration = Duration::from_secs(20);

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server with the hands module, a course C1 (teacher t.a; students Ann and Bo) and the
/// teacher's account.
pub async fn start(dir: &TempDir) -> (Arc<Runtime>, SocketAddr) {
    std::fs::create_dir_all(&dir.0).unwrap();
    let roster = dir.0.join("roster.toml");
    std::fs::write(
        &roster,
        r#"[[course]]
id = "C1"
name = "Course 1"
members = [
  { user_id = "t.a", name = "Teacher A", role = "teacher" },
  { user_id = "tc-testcase-ann", name = "Ann", role = "student" },
  { user_id = "tc-testcase-bo", name = "Bo", role = "student" },
]
"#,
    )
    .unwrap();
    let mut config = Config::default();
    config.server.data_dir = dir.0.join("data");
    config.roster.files = vec![roster];
    config.sessions.secret = Some("a-session-secret-for-the-tests".into());
    let modules: Vec<Arc<dyn Module>> = vec![Arc::new(HandsModule)];
    let runtime = Runtime::start(RuntimeOptions::new(config, modules))
        .await
        .unwrap();
    runtime.accounts.add_in_memory(Account {
        user_id: "t.a".into(),
        name: "Teacher A".into(),
        password: hash_password("correct-horse-battery").unwrap(),
        admin: false,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = classpulse_dashboards::Hub::start(runtime.clone()).await;
    let app = server::routes(runtime.clone()).merge(classpulse_dashboards::routes(hub));
    let rt = runtime.clone();
    tokio::spawn(async move { server::serve(rt, listener, app, std::future::pending()).await });
    (runtime, addr)
}

/// Signs in over HTTP; returns the session cookie.
pub async fn sign_in(addr: SocketAddr, user: &str, password: &str) -> String {
    let body = json!({"user": user, "password": password}).to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let cookie = response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(T, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Reads dashboard messages until the tile's value is `value`; returns the tile.
pub async fn tile_until(ws: &mut Ws, value: &str) -> Value {
    loop {
        let m = recv(ws).await;
        assert_ne!(m["type"], "error", "{m}");
        let tile = &m["summary"]["tile"];
        if tile["value"] == value {
            return tile.clone();
        }
    }
}

/// A student's ingest socket (the `testcase` auth method names them `tc-testcase-<user>`).
pub async fn student(addr: SocketAddr, user: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/wsapi/in/"))
        .await
        .unwrap();
    let lock = json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": user}});
    ws.send(Message::Text(lock.to_string().into()))
        .await
        .unwrap();
    ws
}

pub async fn send(ws: &mut Ws, event: &str) {
    let event = json!({ "event": event });
    ws.send(Message::Text(event.to_string().into()))
        .await
        .unwrap();
}

impl TempDir {
    /// A fresh directory under the system's temporary directory.
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        TempDir(std::env::temp_dir().join(format!(
            "classpulse-hands-{tag}-{}-{nanos}",
            std::process::id()
        )))
    }
}
