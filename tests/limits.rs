//! Limits and abuse, against the real binary: each limit is set low in a config file, hit, and
//! then the test checks that everything else still works — other sockets, other people, other
//! addresses, the HTTP routes.
//!
//! The per-connection event rate has its own test in `core/tests/ingest_protocol.rs`
//! (`a_flooding_socket_is_throttled_without_starving_others`).

mod common;

use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const T: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct-horse-battery";

fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(dir: &Path, text: &str) -> Server {
    let path = config(dir, text);
    Server::start(dir, &["--config", path.to_str().unwrap()])
}

/// An ingest socket for `user` that asks for acks; `forwarded` sets `X-Forwarded-For`.
async fn student(server: &Server, user: &str, forwarded: Option<&str>) -> Ws {
    let mut request = server.ws_url().into_client_request().unwrap();
    if let Some(f) = forwarded {
        request
            .headers_mut()
            .insert("X-Forwarded-For", f.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {"source": "org.example", "user_id": user, "ack": true}}),
    )
    .await;
    ws
}

/// Sends `n` events and waits until they are all acknowledged (the socket's `total` so far).
async fn send_acked(ws: &mut Ws, n: u64, total: u64) {
    for i in 0..n {
        send_json(ws, &json!({"event": "e", "i": i})).await;
    }
    loop {
        let ack = recv_status(ws, "ack", T).await.expect("acknowledged");
        if ack["count"] == total {
            return;
        }
    }
}

async fn healthy(server: &Server) {
    let (status, body) = http_get(&server.http("/healthz")).await;
    assert_eq!((status, body.trim()), (200, "ok"));
}

#[tokio::test]
async fn max_connections_refuses_the_next_socket_only() {
    let dir = TempDir::new("lim-conns");
    let server = start(dir.path(), "[ingest]\nmax_connections = 3\n");
    let mut open = Vec::new();
    for i in 0..3 {
        let mut ws = student(&server, &format!("c{i}"), None).await;
        send_acked(&mut ws, 2, 2).await;
        open.push(ws);
    }
    match tokio_tungstenite::connect_async(server.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("a fourth socket was not refused: {:?}", other.map(|_| ())),
    }
    // The three go on; HTTP and the other sockets are not counted against the limit.
    for ws in &mut open {
        send_acked(ws, 1, 3).await;
    }
    healthy(&server).await;
    let mut dash = dashboard_socket(&server, None, None, None).await.unwrap();
    assert_eq!(recv(&mut dash, T).await.unwrap()["code"], "not_signed_in");
    // A place freed is a place taken.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    let deadline = Instant::now() + T;
    let mut again = loop {
        match tokio_tungstenite::connect_async(server.ws_url()).await {
            Ok((ws, _)) => break ws,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("no place after a close: {e}"),
        }
    };
    send_json(
        &mut again,
        &json!({"event": "lock_fields", "fields": {"user_id": "c9", "ack": true}}),
    )
    .await;
    send_acked(&mut again, 1, 1).await;
    assert!(server.stderr().contains("at ingest.max_connections"));
    server.stop();
}

#[tokio::test]
async fn frame_size_and_json_depth_refuse_the_frame_not_the_socket() {
    let dir = TempDir::new("lim-frames");
    let server = start(
        dir.path(),
        "[ingest]\nmax_frame_bytes = 2048\nmax_json_depth = 8\n",
    );
    let mut ws = student(&server, "big", None).await;
    let mut other = student(&server, "bystander", None).await;
    send_acked(&mut ws, 1, 1).await;

    let big = json!({"event": "e", "pad": "x".repeat(3000)}).to_string();
    send(&mut ws, &big).await;
    let e = recv_status(&mut ws, "error", T).await.unwrap();
    assert!(
        e["reason"].as_str().unwrap().starts_with(&format!(
            "frame of {} bytes exceeds the limit of 2048",
            big.len()
        )),
        "{e}"
    );
    // Eight levels are fine (the event object is the first), nine are not.
    let nested = |depth: usize| {
        format!(
            "{{\"event\":\"deep\",\"v\":{}1{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    };
    send(&mut ws, &nested(9)).await;
    let e = recv_status(&mut ws, "error", T).await.unwrap();
    assert_eq!(e["reason"], "JSON nested deeper than 8 levels");
    send(&mut ws, &nested(8)).await;
    // The same socket goes on (the refused frames are not counted), and so does another.
    send_acked(&mut ws, 1, 3).await;
    send_acked(&mut other, 5, 5).await;
    let deep: Vec<Value> = server
        .log()
        .into_iter()
        .filter(|l| l["client"]["event"] == "deep")
        .collect();
    assert_eq!(deep.len(), 1, "only the 8-level frame was accepted");
    assert!(!server.log().iter().any(|l| l["client"]["pad"].is_string()));
    healthy(&server).await;
    server.stop();
}

#[tokio::test]
async fn per_address_rate_slows_one_address_behind_a_trusted_proxy() {
    let dir = TempDir::new("lim-ip");
    let server = start(
        dir.path(),
        "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n\n\
         [ingest]\nmax_events_per_second_per_ip = 100\nburst_per_ip = 100\n",
    );
    // Two sockets from one school address (as the proxy reports it) flood together.
    let mut flooders = Vec::new();
    for i in 0..2 {
        let mut ws = student(&server, &format!("school{i}"), Some("203.0.113.7")).await;
        flooders.push(tokio::spawn(async move {
            for n in 0..2000 {
                if ws
                    .feed(Message::Text(
                        json!({"event": "f", "n": n}).to_string().into(),
                    ))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let _ = ws.flush().await;
            ws
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another address is not slowed down, nor is the proxy's own.
    let started = Instant::now();
    let mut home = student(&server, "home", Some("198.51.100.1")).await;
    send_acked(&mut home, 20, 20).await;
    let mut local = student(&server, "local", None).await;
    send_acked(&mut local, 20, 20).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "other addresses waited {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let log = server.log();
    let school = log.iter().filter(|l| l["client"]["event"] == "f").count();
    eprintln!("per-address limit: {school} of 4000 flooded events accepted in ~1.3 s");
    // 100 of burst and 100/s for about 1.3 s of flooding: well under the 4000 sent.
    assert!(
        (100..=400).contains(&school),
        "{school} events accepted from one address in ~1.3 s at 100/s"
    );
    let ips = |user: &str| -> Vec<String> {
        log.iter()
            .filter(|l| l["auth"]["safe_user_id"] == format!("tc-testcase-{user}"))
            .map(|l| l["ip"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(ips("school0").iter().all(|ip| ip == "203.0.113.7"));
    assert!(ips("home").iter().all(|ip| ip == "198.51.100.1"));
    assert!(ips("local").iter().all(|ip| ip == "127.0.0.1"));
    for f in flooders {
        f.abort();
    }
    healthy(&server).await;
    server.stop();
}

#[tokio::test]
async fn an_untrusted_forwarded_for_is_ignored() {
    let dir = TempDir::new("lim-xff");
    let server = start(
        dir.path(),
        "[ingest]\nmax_events_per_second_per_ip = 50\nburst_per_ip = 50\n",
    );
    let mut ws = student(&server, "liar", Some("192.0.2.99")).await;
    send_acked(&mut ws, 3, 3).await;
    let log = server.log();
    assert!(
        log.iter()
            .filter(|l| l["auth"]["safe_user_id"] == "tc-testcase-liar")
            .all(|l| l["ip"] == "127.0.0.1"),
        "the client picked its own address"
    );
    server.stop();
}

#[tokio::test]
async fn max_dashboards_per_user_refuses_the_next_dashboard_only() {
    let dir = TempDir::new("lim-dash");
    let accounts = dir.path().join("accounts.toml");
    add_user(dir.path(), &accounts, "t.a", "Teacher A", PASSWORD, false);
    add_user(dir.path(), &accounts, "t.b", "Teacher B", PASSWORD, false);
    let server = start(
        dir.path(),
        "[roster]\nmode = \"all\"\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
         [dashboard]\nmax_dashboards_per_user = 2\n",
    );
    let a = login(&server, "t.a", PASSWORD).await;
    let b = login(&server, "t.b", PASSWORD).await;
    let open = async |cookie: &str| {
        let mut ws = dashboard_socket(&server, Some(cookie), None, None)
            .await
            .unwrap();
        let first = recv(&mut ws, T).await.unwrap();
        (first, ws)
    };
    let (w1, mut d1) = open(&a).await;
    let (w2, _d2) = open(&a).await;
    assert_eq!(
        (w1["type"].as_str(), w2["type"].as_str()),
        (Some("welcome"), Some("welcome"))
    );
    let (refused, mut d3) = open(&a).await;
    assert_eq!(refused["code"], "too_many_dashboards", "{refused}");
    assert!(recv(&mut d3, T).await.is_none(), "then closed");
    // Another person is not affected, and the first teacher's dashboards work.
    let (wb, _db) = open(&b).await;
    assert_eq!(wb["type"], "welcome");
    send_json(&mut d1, &json!({"type": "ping"})).await;
    assert!(recv_type(&mut d1, "pong", T).await.is_some());
    // Closing one frees its place.
    d1.close(None).await.unwrap();
    let deadline = Instant::now() + T;
    loop {
        let (first, _ws) = open(&a).await;
        if first["type"] == "welcome" {
            break;
        }
        assert!(Instant::now() < deadline, "the place was not freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop();
}

#[tokio::test]
async fn max_subscriptions_refuses_the_next_view_only() {
    let dir = TempDir::new("lim-subs");
    let accounts = dir.path().join("accounts.toml");
    add_user(dir.path(), &accounts, "t.a", "Teacher A", PASSWORD, false);
    let server = start(
        dir.path(),
        "[roster]\nmode = \"all\"\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
         [dashboard]\nmax_subscriptions = 2\n",
    );
    let cookie = login(&server, "t.a", PASSWORD).await;
    let mut dash = dashboard_socket(&server, Some(&cookie), None, None)
        .await
        .unwrap();
    assert_eq!(recv(&mut dash, T).await.unwrap()["type"], "welcome");
    let subscribe = |sub: &str| json!({"type": "subscribe", "sub": sub, "course": "all", "view": "writing.class"});
    for sub in ["a", "b"] {
        send_json(&mut dash, &subscribe(sub)).await;
        assert_eq!(
            recv_type(&mut dash, "snapshot", T).await.unwrap()["sub"],
            sub
        );
    }
    send_json(&mut dash, &subscribe("c")).await;
    let refused = recv_type(&mut dash, "error", T).await.unwrap();
    assert_eq!(
        (refused["code"].as_str(), refused["sub"].as_str()),
        (Some("too_many_subscriptions"), Some("c")),
        "{refused}"
    );
    // Replacing a subscription is no new one; the socket still answers.
    send_json(&mut dash, &subscribe("a")).await;
    assert_eq!(
        recv_type(&mut dash, "snapshot", T).await.unwrap()["sub"],
        "a"
    );
    send_json(&mut dash, &json!({"type": "ping"})).await;
    assert!(recv_type(&mut dash, "pong", T).await.is_some());
    // Dropping one frees its place.
    send_json(&mut dash, &json!({"type": "unsubscribe", "sub": "b"})).await;
    assert!(recv_type(&mut dash, "unsubscribed", T).await.is_some());
    send_json(&mut dash, &subscribe("c")).await;
    assert_eq!(
        recv_type(&mut dash, "snapshot", T).await.unwrap()["sub"],
        "c"
    );
    // The same person's second dashboard has its own allowance.
    let mut other = dashboard_socket(&server, Some(&cookie), None, None)
        .await
        .unwrap();
    assert_eq!(recv(&mut other, T).await.unwrap()["type"], "welcome");
    send_json(&mut other, &subscribe("a")).await;
    assert_eq!(
        recv_type(&mut other, "snapshot", T).await.unwrap()["sub"],
        "a"
    );
    server.stop();
}

#[tokio::test]
async fn max_held_events_refuses_past_the_limit_and_keeps_the_rest() {
    let dir = TempDir::new("lim-held");
    let config = config(
        dir.path(),
        "[auth]\nmethods = [\"token\"]\ntoken_secret = \"a-token-secret-for-limit-tests\"\n\n\
         [ingest]\nmax_held_events = 5\n",
    );
    let (ok, token, err) = run_cli(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "token",
            "issue",
            "--student",
            "s1",
        ],
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()]);
    // No credentials yet: five events are held, the next two refused, each with the reason.
    let mut ws = connect(&server.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {"source": "org.example", "ack": true}}),
    )
    .await;
    for i in 0..7 {
        send_json(&mut ws, &json!({"event": "e", "i": i})).await;
    }
    for _ in 0..2 {
        let error = recv_status(&mut ws, "error", T).await.expect("refused");
        assert!(
            error["reason"]
                .as_str()
                .unwrap()
                .starts_with("not authenticated: more than 5 events held"),
            "{error}"
        );
    }
    // Another connection is not affected.
    let mut other = connect(&server.ws_url()).await;
    send_json(
        &mut other,
        &json!({"event": "lock_fields", "fields": {"source": "org.example", "token": token, "ack": true}}),
    )
    .await;
    send_acked(&mut other, 3, 3).await;
    // The credential arrives: the five held events are accepted, in order, as that student.
    // (Like Learning Observer, a `lock_fields` repeating the current source is ignored, so
    // this one carries no source.)
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {"token": token}}),
    )
    .await;
    let auth = recv_status(&mut ws, "auth", T)
        .await
        .expect("authenticated");
    assert_eq!(auth["user_id"], "s1", "{auth}");
    loop {
        let ack = recv_status(&mut ws, "ack", T).await.expect("acknowledged");
        if ack["count"] == 5 {
            break;
        }
    }
    let held: Vec<i64> = server
        .log()
        .iter()
        .filter(|line| line["client"]["event"] == "e")
        .map(|line| line["client"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        held,
        [0, 1, 2, 0, 1, 2, 3, 4],
        "the other socket's 3, then the held 5"
    );
    healthy(&server).await;
    server.stop();
}

/// Reads until the server closes the socket; returns how long that took (`None`: still open
/// at `within`).
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_handshakes_time_out_and_nothing_else_does() {
    let dir = TempDir::new("lim-loris");
    let server = start(dir.path(), "[server]\nhandshake_timeout_secs = 1\n");
    // An ingest socket upgraded in time stays open past the timeout.
    let mut ws = student(&server, "steady", None).await;
    send_acked(&mut ws, 1, 1).await;

    // Fifty sockets that never send anything, and one that trickles its request head.
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(tokio::net::TcpStream::connect(&server.addr).await.unwrap());
    }
    let mut trickle = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let addr = server.addr.clone();
    let trickler = tokio::spawn(async move {
        let head = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
        trickle.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if trickle.write_all(b"a").await.is_err() {
                return Some(started.elapsed());
            }
            let mut buf = [0u8; 64];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(200), trickle.read(&mut buf)).await
            {
                return Some(started.elapsed());
            }
        }
        None
    });
    // Meanwhile the server answers everyone else at once.
    let started = Instant::now();
    healthy(&server).await;
    assert!(started.elapsed() < Duration::from_millis(500));

    let cut = trickler
        .await
        .unwrap()
        .expect("the trickling socket was closed");
    assert!(cut < Duration::from_secs(3), "closed after {cut:?}");
    for s in &mut silent {
        let cut = closed_within(s, Duration::from_secs(4))
            .await
            .expect("a silent socket was closed");
        assert!(cut < Duration::from_secs(3));
    }
    // The upgraded socket is still served, well past the handshake timeout.
    send_acked(&mut ws, 1, 2).await;
    healthy(&server).await;
    server.stop();
}
