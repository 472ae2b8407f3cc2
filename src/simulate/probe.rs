//! `simulate --state-probe`: how long an event takes to show in the state, under the load.
//!
//! One extra student sends an event every 50 ms and polls `GET /api/state/…` until the event
//! count reflects it; the send→visible times are reported as event→state latency. It measures
//! what a dashboard reading the state would see: log commit, the applier, the store, the read.

use futures_util::SinkExt;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Runs until `stop` is notified; returns the latencies in microseconds.
pub(crate) async fn run(
    ws_url: String,
    user: String,
    stop: std::sync::Arc<tokio::sync::Notify>,
) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(url) = url::Url::parse(&ws_url) else {
        return out;
    };
    let host = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port_or_known_default().unwrap_or(80)
    );
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(ws_url.as_str()).await else {
        return out;
    };
    let lock = serde_json::json!({"event": "lock_fields", "fields": {"source": "org.classpulse.probe", "user_id": user}});
    if ws
        .send(Message::Text(lock.to_string().into()))
        .await
        .is_err()
    {
        return out;
    }
    let path = format!("/api/state/tc-testcase-{user}");
    let key = format!("student:tc-testcase-{user}");
    let stopped = stop.notified();
    tokio::pin!(stopped);
    let mut n = 0u64;
    loop {
        n += 1;
        let sent = Instant::now();
        if ws
            .send(Message::Text(r#"{"event":"probe"}"#.into()))
            .await
            .is_err()
        {
            return out;
        }
        while sent.elapsed() < Duration::from_secs(10) {
            if count(&host, &path, &key).await >= n {
                out.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        tokio::select! {
            () = &mut stopped => return out,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// The probe's event count as the read API shows it (0 when absent or unreadable).
async fn count(host: &str, path: &str, key: &str) -> u64 {
    let Ok(mut s) = tokio::net::TcpStream::connect(host).await else {
        return 0;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    if s.read_to_end(&mut buf).await.is_err() {
        return 0;
    }
    let text = String::from_utf8_lossy(&buf);
    let Some((_, body)) = text.split_once("\r\n\r\n") else {
        return 0;
    };
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["activity.event_count"][key]["count"].as_u64())
        .unwrap_or(0)
}
