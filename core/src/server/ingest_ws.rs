//! The `/wsapi/in/` upgrade: connection limit, socket limits, a signed-in page's session, then
//! the ingest protocol.

use crate::event::{Auth, Security};
use crate::ingest::{ConnInfo, connection};
use crate::runtime::Runtime;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of frames a socket buffers before it writes without waiting for a flush.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Upgrades to the ingest protocol, or 503 when at the connection limit.
pub(super) async fn upgrade(State(rt): State<Arc<Runtime>>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| rt.trusted_proxies.client_ip(c.0.ip(), &parts.headers));
    let ip = client.map(|ip| ip.to_string()).unwrap_or_default();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &rt).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(permit) = rt.connection_limit.clone().try_acquire_owned() else {
        tracing::warn!(%ip, "ingest connection refused: at ingest.max_connections");
        crate::telemetry::metrics::limit_hit("ingest_connections");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections\n").into_response();
    };
    let info = ConnInfo {
        ip,
        agent: header_text(&parts.headers, header::USER_AGENT),
        guest_id: guest_cookie(&parts.headers).unwrap_or_else(new_guest_id),
        session: session_identity(&rt, &parts.headers),
        ip_budget: client.and_then(|ip| rt.ingest.per_ip.join(ip)),
    };
    let limits = &rt.config.ingest;
    // The transport's limit sits well above ours, so an oversized frame gets our error
    // message instead of a dropped socket.
    let transport_limit = limits.max_frame_bytes.saturating_mul(4).max(1 << 20);
    let runtime = rt.clone();
    ws.read_buffer_size(limits.read_buffer_bytes)
        // Frames are buffered and written when the connection flushes (it always does after
        // what it has to say): notifications queued for a socket go out in one write.
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(transport_limit)
        .max_frame_size(transport_limit)
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            let span = tracing::info_span!("ingest", ip = %info.ip);
            let tracked = runtime.tasks.track_future(tracing::Instrument::instrument(
                connection::serve(
                    runtime.ingest.clone(),
                    sink,
                    stream,
                    info,
                    runtime.shutdown.clone(),
                ),
                span,
            ));
            async move {
                tracked.await;
                drop(permit);
            }
        })
}

/// The identity of a signed-in page opening the socket: its session cookie, when the request
/// comes from the server's own (or an allowed) origin. Students are their safe user id (the
/// `sub` of the token link they signed in with, as the `token` method would make them); staff
/// are their account name, which is how rosters list them. Providence `session`.
fn session_identity(rt: &Runtime, headers: &HeaderMap) -> Option<Auth<'static>> {
    if !rt.sessions.origin_allowed(headers) {
        return None;
    }
    let principal = rt.principal(headers)?;
    Some(Auth {
        providence: Cow::Borrowed("session"),
        safe_user_id: Cow::Owned(principal.sub.clone()),
        sec: Security::Authenticated,
        user_id: Cow::Owned(principal.sub),
    })
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn guest_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == "guest_id")
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A fresh 32-hex-digit guest id. Guests are not a security boundary; the id only needs to be
/// unique.
fn new_guest_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.update(d.as_nanos().to_le_bytes());
    }
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}
