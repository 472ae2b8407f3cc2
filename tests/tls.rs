//! TLS served directly, against the real binary, with a self-signed certificate made by the
//! test (`rcgen`): `https://` pages and API, `wss://` ingest (acknowledged events) and
//! dashboards, session cookies marked `Secure`, a TLS handshake that never comes is cut at the
//! handshake timeout, a plain-HTTP client gets nothing, command-line tools reach the running
//! server over TLS (pinning its certificate), and a broken key is refused at start-up by name.

mod common;

use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const T: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct-horse-battery";
const TIMETABLE: &str = "[[terms]]\nid = \"t\"\nstart = 2026-01-05\nend = 2026-12-18\n\n\
    [[courses]]\nid = \"c1\"\nterm = \"t\"\n\n[[courses.sections]]\nid = \"L\"\n\n\
    [[courses.sections.meetings]]\ndays = \"MW\"\nstart = \"09:00\"\nend = \"10:00\"\n";

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM into `dir`.
fn certificate(dir: &Path) -> rustls::pki_types::CertificateDer<'static> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    certified.cert.der().clone()
}

fn connector(cert: &rustls::pki_types::CertificateDer<'static>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_stream(server: &Server, connector: &TlsConnector) -> TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.expect("a TLS handshake")
}

/// One HTTPS request: (status, headers lower-cased, body).
async fn https(
    server: &Server,
    connector: &TlsConnector,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let mut s = tls_stream(server, connector).await;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    // The server may close without close_notify after `Connection: close`.
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head[9..12].parse().unwrap();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn set_cookie(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .expect("a cookie")
}

async fn wss(
    server: &Server,
    connector: &TlsConnector,
    path: &str,
    headers: &[(&str, &str)],
) -> tokio_tungstenite::WebSocketStream<TlsStream<tokio::net::TcpStream>> {
    let port = server.addr.rsplit(':').next().unwrap();
    let mut request = format!("wss://localhost:{port}{path}")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(
            k.parse::<tokio_tungstenite::tungstenite::http::HeaderName>()
                .unwrap(),
            v.parse().unwrap(),
        );
    }
    let stream = tls_stream(server, connector).await;
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("a wss:// upgrade");
    ws
}

async fn next_json<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    loop {
        match tokio::time::timeout(T, ws.next()).await.expect("a message") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn https_and_wss_are_served_with_secure_cookies() {
    let dir = TempDir::new("tls");
    let cert = certificate(dir.path());
    add_user(
        dir.path(),
        &dir.path().join("accounts.toml"),
        "t.a",
        "Teacher",
        PASSWORD,
        false,
    );
    std::fs::write(
        dir.path().join("config.toml"),
        "[server]\nhandshake_timeout_secs = 1\n\n[server.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\n\
         [roster]\nmode = \"all\"\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
         [auth]\ntoken_secret = \"a-token-secret-for-tls-tests\"\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--config", "config.toml"]);
    assert!(server.stdout().contains("listening on https://"));
    assert!(server.stdout().contains("ingest: wss://"));
    let tls = connector(&cert);

    // https: pages, health, sign-in with a Secure cookie.
    let (status, _, body) = https(&server, &tls, "GET", "/healthz", &[], b"").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, _, page) = https(&server, &tls, "GET", "/", &[], b"").await;
    assert_eq!(status, 200);
    assert!(page.contains("<html") || page.contains("<!doctype") || page.contains("<!DOCTYPE"));
    let login = json!({"user": "t.a", "password": PASSWORD}).to_string();
    let (status, headers, _) = https(
        &server,
        &tls,
        "POST",
        "/auth/login",
        &[("Content-Type", "application/json")],
        login.as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let cookie = set_cookie(&headers);
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();

    // wss:// ingest with acknowledgements.
    let mut ws = wss(&server, &tls, "/wsapi/in/", &[]).await;
    ws.send(Message::Text(
        json!({"event": "lock_fields", "fields": {"source": "org.example", "user_id": "sec", "ack": true}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    for i in 0..5 {
        ws.send(Message::Text(
            json!({"event": "e", "i": i}).to_string().into(),
        ))
        .await
        .unwrap();
    }
    loop {
        let v = next_json(&mut ws).await;
        if v["status"] == "ack" && v["count"] == 5 {
            break;
        }
    }
    // wss:// dashboards with the session, from the server's own https origin.
    let port = server.addr.rsplit(':').next().unwrap();
    let origin = format!("https://localhost:{port}");
    let mut dash = wss(
        &server,
        &tls,
        "/wsapi/dashboard",
        &[("Cookie", &session), ("Origin", &origin)],
    )
    .await;
    assert_eq!(next_json(&mut dash).await["type"], "welcome");

    // Plain HTTP on the TLS port gets no HTTP answer, and costs nothing else.
    let mut plain = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(T, plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // A TLS handshake that never comes is cut at the handshake timeout.
    let mut idle = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let started = Instant::now();
    let mut one = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut one)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "an idle socket was not closed"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let (status, _, _) = https(&server, &tls, "GET", "/readyz", &[], b"").await;
    assert_eq!(status, 200);

    // Command-line tools reach the running server over TLS, pinning its certificate.
    std::fs::write(
        dir.path().join("c1.csv"),
        "user_id,name,email,role\nt.a,Teacher,,teacher\n",
    )
    .unwrap();
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            "config.toml",
            "roster",
            "import",
            "c1.csv",
            "--course",
            "c1",
        ],
    );
    assert!(ok, "{out}\n{err}");
    assert!(err.contains("sent to the running server"), "{err}");
    let key = format!("Bearer {}", server.admin_key());
    let (status, _, roster) = https(
        &server,
        &tls,
        "GET",
        "/api/admin/roster/c1",
        &[("Authorization", &key)],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{roster}");
    let roster: Value = serde_json::from_str(&roster).unwrap();
    assert_eq!(roster["members"]["t.a"]["role"], "teacher");
    std::fs::write(dir.path().join("timetable.toml"), TIMETABLE).unwrap();
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            "config.toml",
            "timetable",
            "import",
            "timetable.toml",
            "--server",
            &server.addr,
        ],
    );
    assert!(ok && out.contains("the server appended"), "{out}\n{err}");
    let (status, _, now) = https(
        &server,
        &tls,
        "GET",
        "/api/timetable/courses/c1/now",
        &[("Authorization", &key)],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{now}");
    drop(ws);
    drop(dash);
    server.stop();
}

#[tokio::test]
async fn without_tls_cookies_are_not_secure_and_a_bad_key_is_refused() {
    let dir = TempDir::new("tls-plain");
    add_user(
        dir.path(),
        &dir.path().join("accounts.toml"),
        "t.a",
        "Teacher",
        PASSWORD,
        false,
    );
    std::fs::write(
        dir.path().join("config.toml"),
        "[accounts]\nfile = \"accounts.toml\"\n\n[auth]\ntoken_secret = \"a-token-secret-for-tls-tests\"\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--config", "config.toml"]);
    let login = json!({"user": "t.a", "password": PASSWORD}).to_string();
    let (status, headers, _) = http_request(
        "POST",
        &server.http("/auth/login"),
        &[("Content-Type", "application/json")],
        login.as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let cookie = set_cookie(&headers);
    assert!(!cookie.contains("Secure"), "{cookie}");
    // Behind a TLS proxy that says so, the cookie is Secure.
    let (_, headers, _) = http_request(
        "POST",
        &server.http("/auth/login"),
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-Proto", "https"),
        ],
        login.as_bytes(),
    )
    .await;
    assert!(set_cookie(&headers).contains("; Secure"));
    // The command-line import reaches a plain server too.
    std::fs::write(dir.path().join("timetable.toml"), TIMETABLE).unwrap();
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            "config.toml",
            "timetable",
            "import",
            "timetable.toml",
            "--server",
            &server.addr,
        ],
    );
    assert!(ok && out.contains("the server appended"), "{out}\n{err}");
    server.stop();

    // A key that is not a key: refused at start-up, naming the file.
    certificate(dir.path());
    std::fs::write(dir.path().join("key.pem"), "not a key\n").unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[server.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "--config",
            "bad.toml",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            "d2",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.tls") && err.contains("key.pem"),
        "{err}"
    );
}
