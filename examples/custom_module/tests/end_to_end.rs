//! The module's whole path, over real sockets: a student's `raise` over `/wsapi/in/`, the log,
//! the hand reducer, the `hands.class` view, and the tile a signed-in teacher's dashboard
//! socket receives — then the hand going down again.

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
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const T: Duration = Duration::from_secs(20);

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server with the hands module, a course C1 (teacher t.a; students Ann and Bo) and the
/// teacher's account.
async fn start(dir: &TempDir) -> (Arc<Runtime>, SocketAddr) {
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
async fn sign_in(addr: SocketAddr, user: &str, password: &str) -> String {
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

async fn recv(ws: &mut Ws) -> Value {
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
async fn tile_until(ws: &mut Ws, value: &str) -> Value {
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
async fn student(addr: SocketAddr, user: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/wsapi/in/"))
        .await
        .unwrap();
    let lock = json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": user}});
    ws.send(Message::Text(lock.to_string().into()))
        .await
        .unwrap();
    ws
}

async fn send(ws: &mut Ws, event: &str) {
    let event = json!({ "event": event });
    ws.send(Message::Text(event.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_raised_hand_reaches_the_teachers_tile() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "classpulse-hands-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )));
    let (runtime, addr) = start(&dir).await;
    let cookie = sign_in(addr, "t.a", "correct-horse-battery").await;

    let mut request = format!("ws://{addr}/wsapi/dashboard")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Cookie", cookie.parse().unwrap());
    let (mut dashboard, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let welcome = recv(&mut dashboard).await;
    assert!(
        welcome["views"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "hands.class", "title": "Hands up", "tile": true})),
        "{welcome}"
    );
    let subscribe =
        json!({"type": "subscribe", "sub": "hands", "course": "C1", "view": "hands.class"});
    dashboard
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let snapshot = recv(&mut dashboard).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["summary"]["tile"]["value"], "0");

    let mut ann = student(addr, "ann").await;
    let mut bo = student(addr, "bo").await;
    send(&mut ann, "raise").await;
    let tile = tile_until(&mut dashboard, "1").await;
    assert_eq!(tile["label"], "hand up");
    assert!(
        tile["detail"].as_str().unwrap().starts_with("Ann "),
        "{tile}"
    );
    send(&mut bo, "raise").await;
    let tile = tile_until(&mut dashboard, "2").await;
    assert!(
        tile["detail"].as_str().unwrap().starts_with("Ann, Bo "),
        "{tile}"
    );
    send(&mut ann, "lower").await;
    let tile = tile_until(&mut dashboard, "1").await;
    assert!(
        tile["detail"].as_str().unwrap().starts_with("Bo "),
        "{tile}"
    );

    runtime.shutdown.cancel();
    runtime.shutdown().await;
}
