//! One ingest connection: Learning Observer's `/wsapi/in/` protocol as a state machine over any
//! `Sink`/`Stream` of WebSocket messages (a real socket in the server, channels in tests).
//!
//! Per frame: check and decode it; `lock_fields` updates the headers; `terminate` ends the
//! session; any other event is merged with the lock fields and, once the connection is
//! authenticated, handed to the log writer. Events that arrive before authentication are held
//! and accepted the moment it succeeds — also when it succeeds through a later `lock_fields`
//! and the stream ends right after. Bad frames get `{"status":"error","reason":…}` and cost
//! nothing else. Clients that ask (`"ack": true` in `lock_fields`) get cumulative
//! `{"status":"ack","count":K,"seq":N}` once their events are durable.

use super::lock_fields::LockFields;
use super::rate::TokenBucket;
use super::{ConnInfo, DeriveCache, Ingest, frame};
use crate::auth::Attempt;
use crate::event::envelope::EnvelopeBody;
use crate::event::{Auth, Fields};
use crate::log::{AckTracker, FieldSpan, PendingEvent, Prepared, Refused};
use crate::telemetry::Rejection;
use axum::extract::ws::Message;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Most frames handled before the accepted ones are handed to the log writer.
const MAX_FRAMES_PER_HANDOFF: usize = 256;
/// How long a closing connection waits for its last events to become durable.
const FINAL_ACK_WAIT: Duration = Duration::from_secs(10);

/// What a frame means for the connection.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Terminate,
    Closed,
}

/// An event held until the connection authenticates: its merged client JSON and source.
struct Held {
    client: String,
    spans: Vec<FieldSpan>,
    source: String,
}

struct Conn {
    ingest: Arc<Ingest>,
    info: ConnInfo,
    id: u64,
    lock: LockFields,
    auth: Option<Arc<Auth<'static>>>,
    /// The envelope prefix for the current source (see `EnvelopeBody::write_prefix`).
    envelope: Option<(Arc<str>, String)>,
    /// The adapters' last result, reused while their inputs stay the same.
    derive_cache: DeriveCache,
    held: Vec<Held>,
    ack: Option<Arc<AckTracker>>,
    accepted: u64,
    acked_sent: u64,
    replies: Vec<String>,
    pending: Vec<PendingEvent>,
    notify_tx: mpsc::Sender<String>,
}

/// Serves one connection until the client closes it, sends `terminate`, or `shutdown` fires.
pub async fn serve<W, R, E>(
    ingest: Arc<Ingest>,
    mut sink: W,
    mut stream: R,
    info: ConnInfo,
    shutdown: CancellationToken,
) where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    let id = ingest.next_connection_id();
    ingest.stats.connection_opened();
    let (notify_tx, mut notify_rx) = mpsc::channel::<String>(32);
    let mut bucket = TokenBucket::new(
        ingest.config.max_events_per_second,
        ingest.config.burst.max(ingest.config.max_events_per_second),
    );
    let mut conn = Conn {
        ingest: ingest.clone(),
        info,
        id,
        lock: LockFields::default(),
        auth: None,
        envelope: None,
        derive_cache: DeriveCache::default(),
        held: Vec::new(),
        ack: None,
        accepted: 0,
        acked_sent: 0,
        replies: Vec::new(),
        pending: Vec::new(),
        notify_tx,
    };
    tracing::debug!(conn = id, ip = %conn.info.ip, "ingest connection opened");
    if let Some(auth) = conn.info.session.clone() {
        // A signed-in page: its session cookie already said who it is.
        conn.authenticated(auth);
        // Say so at once: a page waits for it before it sends anything. (A failed send shows
        // up again, and ends the connection, in the loop below.)
        let _ = conn.send_replies(&mut sink).await;
    }

    loop {
        let ack = conn.ack.clone();
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            message = stream.next() => {
                let mut next = message;
                let mut frames = 0;
                let flow = loop {
                    let shared = conn.info.ip_budget.as_ref().and_then(|b| b.take());
                    let own = bucket.take();
                    if let Some(wait) = own.max(shared) {
                        crate::telemetry::metrics::limit_hit(if shared > own {
                            "events_per_second_per_ip"
                        } else {
                            "events_per_second"
                        });
                        conn.flush().await;
                        if conn.send_replies(&mut sink).await.is_err() {
                            break Flow::Closed;
                        }
                        tokio::time::sleep(wait).await;
                    }
                    let flow = match next {
                        Some(Ok(m)) => conn.handle(m),
                        _ => Flow::Closed,
                    };
                    frames += 1;
                    if flow != Flow::Continue || frames >= MAX_FRAMES_PER_HANDOFF {
                        break flow;
                    }
                    // Take whatever else is already buffered, so one hand-off (and one ack)
                    // covers a burst of frames.
                    match stream.next().now_or_never() {
                        Some(m) => next = m,
                        None => break flow,
                    }
                };
                conn.flush().await;
                if conn.send_replies(&mut sink).await.is_err() || flow != Flow::Continue {
                    break;
                }
            }
            () = async {
                match &ack {
                    Some(t) => t.changed().await,
                    None => std::future::pending().await,
                }
            } => {
                if conn.send_ack(&mut sink).await.is_err() {
                    break;
                }
            }
            Some(note) = notify_rx.recv() => {
                if send_notes(&mut sink, note, &mut notify_rx).await.is_err() {
                    break;
                }
            }
        }
    }

    conn.flush().await;
    if let Some(tracker) = conn.ack.clone() {
        // Tell the client about everything that becomes durable before we hang up.
        let deadline = tokio::time::Instant::now() + FINAL_ACK_WAIT;
        while tracker.position().0 < conn.accepted {
            if tokio::time::timeout_at(deadline, tracker.changed())
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = conn.send_replies(&mut sink).await;
        let _ = conn.send_ack(&mut sink).await;
    } else {
        let _ = conn.send_replies(&mut sink).await;
    }
    if !conn.held.is_empty() {
        tracing::info!(
            conn = id,
            events = conn.held.len(),
            "connection closed before it authenticated; its held events were not accepted"
        );
    }
    if let Some(auth) = &conn.auth {
        ingest.notifier.unregister(&auth.safe_user_id, id);
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = sink.close().await;
    ingest.stats.connection_closed();
    tracing::debug!(
        conn = id,
        accepted = conn.accepted,
        "ingest connection closed"
    );
}

/// Most notifications written to a socket in one go: a burst beyond it waits for the next turn
/// of the connection's loop, so frames from the client are not starved.
const MAX_NOTES_PER_WRITE: usize = 64;

/// Writes `first` and whatever other notifications are already queued for this socket, then
/// flushes once: one socket write for all of them instead of one per notification.
async fn send_notes<W: Sink<Message> + Unpin>(
    sink: &mut W,
    first: String,
    queued: &mut mpsc::Receiver<String>,
) -> Result<(), ()> {
    sink.feed(Message::Text(first.into()))
        .await
        .map_err(|_| ())?;
    for _ in 1..MAX_NOTES_PER_WRITE {
        let Ok(note) = queued.try_recv() else {
            break;
        };
        sink.feed(Message::Text(note.into()))
            .await
            .map_err(|_| ())?;
    }
    sink.flush().await.map_err(|_| ())
}

impl Conn {
    fn handle(&mut self, message: Message) -> Flow {
        match message {
            Message::Text(text) => self.handle_text(text.as_str()),
            Message::Binary(_) => {
                self.reject(
                    Rejection::Binary,
                    "binary frames are not events; send JSON text".into(),
                );
                Flow::Continue
            }
            Message::Close(_) => Flow::Closed,
            Message::Ping(_) | Message::Pong(_) => Flow::Continue,
        }
    }

    fn handle_text(&mut self, text: &str) -> Flow {
        let config = &self.ingest.config;
        let fields = match frame::decode(text, config.max_frame_bytes, config.max_json_depth) {
            Ok(f) => f,
            Err((why, reason)) => {
                self.reject(why, reason);
                return Flow::Continue;
            }
        };
        let Some(kind) = fields.str("event") else {
            self.reject(
                Rejection::NoEventType,
                "an event needs a string \"event\" field".into(),
            );
            return Flow::Continue;
        };
        match kind.as_ref() {
            "lock_fields" => {
                match self.lock.update(&fields) {
                    Ok(true) => {
                        if self.lock.wants_ack() && self.ack.is_none() {
                            self.ack = Some(AckTracker::new());
                        }
                        if self.auth.is_none() {
                            let empty = Fields::default();
                            self.try_authenticate(&empty);
                        }
                    }
                    Ok(false) => {}
                    Err(reason) => self.reject(Rejection::NotAnObject, reason),
                }
                Flow::Continue
            }
            "terminate" => Flow::Terminate,
            _ => {
                self.accept(&fields);
                Flow::Continue
            }
        }
    }

    fn accept(&mut self, fields: &Fields<'_>) {
        let lock = std::mem::take(&mut self.lock);
        self.accept_with(fields, &lock);
        self.lock = lock;
    }

    fn accept_with(&mut self, fields: &Fields<'_>, lock: &LockFields) {
        let source = lock.canonical_source(fields);
        let mut cache = std::mem::take(&mut self.derive_cache);
        self.ingest
            .derive_fields(&source, &lock.merged(fields), &mut cache);
        self.accept_derived(fields, lock, &source, &cache.derived);
        self.derive_cache = cache;
    }

    fn accept_derived(
        &mut self,
        fields: &Fields<'_>,
        lock: &LockFields,
        source: &str,
        derived: &[(&'static str, String)],
    ) {
        if self.auth.is_some() {
            self.push_event(source, |out, spans| {
                lock.write_merged(fields, source, derived, out, spans)
            });
            return;
        }
        let mut client = String::with_capacity(256);
        let mut spans = Vec::new();
        lock.write_merged(fields, source, derived, &mut client, &mut spans);
        if self.held.len() >= self.ingest.config.max_held_events {
            self.reject(
                Rejection::TooManyHeld,
                format!(
                    "not authenticated: more than {} events held; send credentials first",
                    self.ingest.config.max_held_events
                ),
            );
            return;
        }
        self.held.push(Held {
            client,
            spans,
            source: source.to_owned(),
        });
        self.try_authenticate_with(fields, lock);
    }

    fn try_authenticate(&mut self, fields: &Fields<'_>) {
        let lock = std::mem::take(&mut self.lock);
        self.try_authenticate_with(fields, &lock);
        self.lock = lock;
    }

    fn try_authenticate_with(&mut self, fields: &Fields<'_>, lock: &LockFields) {
        let now = self.ingest.clock.now().as_micros() / 1_000_000;
        let attempt = self
            .ingest
            .auth
            .authenticate(&lock.merged(fields), &self.info.guest_id, now);
        match attempt {
            Attempt::Authenticated(auth) => self.authenticated(auth),
            Attempt::NotYet => {}
            Attempt::Refused(reason) => {
                // The event that carried a bad credential is not accepted.
                self.held.pop();
                self.reject(Rejection::BadToken, reason);
            }
        }
    }

    /// The connection now is `auth`: say so, register for notifications, accept what was held.
    fn authenticated(&mut self, auth: Auth<'static>) {
        tracing::debug!(conn = self.id, user = %auth.safe_user_id, "connection authenticated");
        let reply = serde_json::json!({"status": "auth", "user_id": auth.user_id});
        self.replies.push(reply.to_string());
        self.ingest
            .notifier
            .register(&auth.safe_user_id, self.id, self.notify_tx.clone());
        self.auth = Some(Arc::new(auth));
        for held in std::mem::take(&mut self.held) {
            self.push_event(&held.source, |out, spans| {
                let offset = out.len() as u32;
                out.push_str(&held.client);
                spans.extend(held.spans.iter().map(|s| s.shifted(offset)));
            });
        }
    }

    /// Queues one authenticated event: the cached envelope prefix, then the client object
    /// (written by `client`, which records its field spans), then `}`.
    fn push_event(&mut self, source: &str, client: impl FnOnce(&mut String, &mut Vec<FieldSpan>)) {
        let Some(auth) = self.auth.clone() else {
            return;
        };
        if self.envelope.as_ref().is_none_or(|(s, _)| **s != *source) {
            let mut prefix = String::with_capacity(256);
            EnvelopeBody {
                node: &self.ingest.node,
                conn: self.id,
                ip: &self.info.ip,
                agent: &self.info.agent,
                auth: &auth,
                source,
                timer: None,
            }
            .write_prefix(&mut prefix);
            self.envelope = Some((Arc::from(source), prefix));
        }
        let (source, prefix) = self.envelope.as_ref().expect("set above");
        let mut body = String::with_capacity(prefix.len() + 1024);
        body.push_str(prefix);
        let mut spans = Vec::with_capacity(16);
        client(&mut body, &mut spans);
        body.push('}');
        self.pending.push(PendingEvent {
            body,
            ack: self.ack.clone(),
            prepared: Some(Prepared {
                node: self.ingest.node.clone(),
                auth,
                source: source.clone(),
                conn: self.id,
                fields: spans,
            }),
        });
        self.accepted += 1;
    }

    fn reject(&mut self, why: Rejection, reason: String) {
        self.ingest.stats.add_rejected(why);
        tracing::info!(conn = self.id, reason = why.label(), detail = %reason, "frame rejected");
        let reply = serde_json::json!({"status": "error", "reason": reason});
        self.replies.push(reply.to_string());
    }

    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.pending);
        let n = events.len() as u64;
        match self
            .ingest
            .writer
            .append_unless_failing(events, &self.ingest.log_health)
            .await
        {
            Ok(()) => self.ingest.stats.add_accepted(n),
            Err(Refused::Closed) => {
                tracing::warn!(conn = self.id, "event log closed; events not accepted");
                self.accepted -= n;
            }
            Err(Refused::Unavailable(why)) => {
                // The client is told, and never acknowledged for these: it may send them again.
                self.accepted -= n;
                self.ingest
                    .stats
                    .add_rejected_n(Rejection::LogUnavailable, n);
                tracing::warn!(conn = self.id, events = n, reason = %why, "events refused: the event log is not writable");
                let reply = serde_json::json!({
                    "status": "error",
                    "reason": format!("{why}; the last {n} event(s) were not accepted: send them again later"),
                    "refused": n,
                });
                self.replies.push(reply.to_string());
            }
        }
    }

    async fn send_replies<W: Sink<Message> + Unpin>(&mut self, sink: &mut W) -> Result<(), ()> {
        for reply in self.replies.drain(..) {
            sink.feed(Message::Text(reply.into()))
                .await
                .map_err(|_| ())?;
        }
        sink.flush().await.map_err(|_| ())
    }

    async fn send_ack<W: Sink<Message> + Unpin>(&mut self, sink: &mut W) -> Result<(), ()> {
        let Some(tracker) = &self.ack else {
            return Ok(());
        };
        let (count, seq) = tracker.position();
        if count <= self.acked_sent {
            return Ok(());
        }
        self.acked_sent = count;
        let ack = format!(r#"{{"status":"ack","count":{count},"seq":{seq}}}"#);
        sink.send(Message::Text(ack.into())).await.map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A sink that records what it was given and how often it was flushed.
    #[derive(Default)]
    struct Recording {
        sent: Vec<String>,
        flushes: usize,
    }

    impl Sink<Message> for Recording {
        type Error = ();
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), ()> {
            if let Message::Text(t) = item {
                self.sent.push(t.as_str().to_owned());
            }
            Ok(())
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn queued_notifications_go_out_in_order_with_one_flush_per_burst() {
        let (tx, mut rx) = mpsc::channel(128);
        for i in 0..MAX_NOTES_PER_WRITE + 5 {
            tx.try_send(format!("n{i}")).unwrap();
        }
        let mut sink = Recording::default();
        let first = rx.recv().await.unwrap();
        send_notes(&mut sink, first, &mut rx).await.unwrap();
        assert_eq!(sink.sent.len(), MAX_NOTES_PER_WRITE, "a burst is capped");
        assert_eq!(sink.flushes, 1);
        let first = rx.recv().await.unwrap();
        send_notes(&mut sink, first, &mut rx).await.unwrap();
        assert_eq!(sink.flushes, 2);
        let expected: Vec<String> = (0..MAX_NOTES_PER_WRITE + 5)
            .map(|i| format!("n{i}"))
            .collect();
        assert_eq!(sink.sent, expected);
    }
}
