//! The `/wsapi/dashboard` protocol over any `Sink`/`Stream` of WebSocket messages (a real
//! socket in the server, channels in tests). `docs/protocol.md` lists every message.
//!
//! A signed-in staff member subscribes to course views; each subscription first gets a
//! snapshot, then updates with what changed. The socket never queues: when a view changes
//! faster than the client reads, the next message simply covers every change since the last
//! one it received. Rights are checked at subscribe time and again before every message, so a
//! teacher removed from a course stops receiving it.

use crate::hub::{Hub, SubscribeError, Subscription};
use axum::extract::ws::Message;
use classpulse_core::auth::access::can_watch;
use classpulse_core::auth::session::Principal;
use classpulse_core::telemetry::metrics;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

/// Largest client message accepted, in bytes.
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;

/// A message from the dashboard.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe {
        #[serde(default)]
        sub: Option<String>,
        course: String,
        view: String,
    },
    Unsubscribe {
        sub: String,
    },
    Ping,
}

struct Sub {
    id: String,
    course: String,
    handle: Subscription,
    sent: u64,
}

enum Next<E> {
    Client(Option<Result<Message, E>>),
    Changed(usize),
    Shutdown,
}

fn error(sub: Option<&str>, code: &str, message: &str) -> String {
    let mut v = json!({"type": "error", "code": code, "message": message});
    if let Some(sub) = sub {
        v["sub"] = json!(sub);
    }
    v.to_string()
}

async fn send<W: Sink<Message> + Unpin>(sink: &mut W, text: String) -> Result<(), ()> {
    sink.send(Message::Text(text.into())).await.map_err(|_| ())
}

/// Serves one dashboard connection for `principal` (`None`: not signed in) until the client
/// leaves or `shutdown` fires.
pub async fn serve<W, R, E>(
    hub: Arc<Hub>,
    principal: Option<Principal>,
    mut sink: W,
    mut stream: R,
    shutdown: CancellationToken,
) where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    let Some(principal) = principal.filter(|p| p.is_staff()) else {
        let _ = send(
            &mut sink,
            error(
                None,
                "not_signed_in",
                "sign in as a teacher, TA or administrator first",
            ),
        )
        .await;
        let _ = sink.send(Message::Close(None)).await;
        return;
    };
    let Some(_slot) = hub.open_dashboard(&principal.sub) else {
        tracing::info!(user = %principal.sub, "dashboard refused: at dashboard.max_dashboards_per_user");
        metrics::limit_hit("dashboards_per_user");
        let _ = send(
            &mut sink,
            error(
                None,
                "too_many_dashboards",
                &format!(
                    "at most {} dashboards per person at once; close another one",
                    hub.config.max_dashboards_per_user
                ),
            ),
        )
        .await;
        let _ = sink.send(Message::Close(None)).await;
        return;
    };
    metrics::dashboards_connected(1.0);
    let _connected = scopeguard(|| metrics::dashboards_connected(-1.0));
    let views: Vec<_> = hub
        .rt
        .aggregators
        .iter()
        .map(|a| json!({"name": a.name(), "title": a.title(), "tile": a.tile()}))
        .collect();
    let welcome = json!({
        "type": "welcome",
        "user": {"id": principal.sub, "name": principal.name, "admin": principal.admin},
        "views": views,
    });
    if send(&mut sink, welcome.to_string()).await.is_err() {
        return;
    }
    let mut subs: Vec<Sub> = Vec::new();
    loop {
        if principal.exp <= hub.rt.now_secs() {
            let _ = send(
                &mut sink,
                error(
                    None,
                    "session_expired",
                    "your sign-in expired; sign in again",
                ),
            )
            .await;
            break;
        }
        let next = {
            let changed = async {
                if subs.is_empty() {
                    return std::future::pending::<usize>().await;
                }
                let waits = subs.iter_mut().enumerate().map(|(i, s)| {
                    Box::pin(async move {
                        // A closed channel (the hub is gone) never wakes us again.
                        if s.handle.rx.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                        i
                    })
                });
                futures_util::future::select_all(waits).await.0
            };
            tokio::select! {
                () = shutdown.cancelled() => Next::Shutdown,
                m = stream.next() => Next::Client(m),
                i = changed => Next::Changed(i),
            }
        };
        match next {
            Next::Shutdown => break,
            Next::Client(None | Some(Err(_))) => break,
            Next::Client(Some(Ok(message))) => {
                let text = match message {
                    Message::Text(t) => t,
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Binary(_) => {
                        if send(&mut sink, error(None, "bad_request", "send JSON text"))
                            .await
                            .is_err()
                        {
                            break;
                        }
                        continue;
                    }
                };
                let reply = handle(&hub, &principal, &mut subs, text.as_str());
                if let Some(reply) = reply
                    && send(&mut sink, reply).await.is_err()
                {
                    break;
                }
            }
            Next::Changed(i) => {
                let sub = &mut subs[i];
                sub.handle.rx.borrow_and_update();
                if !can_watch(&principal, &sub.course, &hub.rt.roster) {
                    let id = sub.id.clone();
                    subs.remove(i);
                    let text = error(
                        Some(&id),
                        "not_your_course",
                        "you no longer have access to this course",
                    );
                    if send(&mut sink, text).await.is_err() {
                        break;
                    }
                    continue;
                }
                let Some(out) = sub.handle.view.message_since(&sub.id, sub.sent) else {
                    continue;
                };
                if out.version > sub.sent + 1 && sub.sent > 0 {
                    hub.stats
                        .versions_skipped
                        .fetch_add(out.version - sub.sent - 1, Ordering::Relaxed);
                }
                sub.sent = out.version;
                if sink.send(Message::Text(out.text)).await.is_err() {
                    break;
                }
                hub.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
                metrics::dashboard_pushed(sub.handle.view.changed_since().map(|t| t.elapsed()));
            }
        }
    }
    drop(subs);
    let _ = sink.send(Message::Close(None)).await;
    let _ = sink.close().await;
}

/// Runs `f` when dropped (however the connection ends).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// Handles one client message; returns the immediate reply, if any.
fn handle(
    hub: &Arc<Hub>,
    principal: &Principal,
    subs: &mut Vec<Sub>,
    text: &str,
) -> Option<String> {
    if text.len() > MAX_CLIENT_MESSAGE {
        return Some(error(
            None,
            "bad_request",
            &format!("messages are limited to {MAX_CLIENT_MESSAGE} bytes"),
        ));
    }
    let message: ClientMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return Some(error(
                None,
                "bad_request",
                &format!("not a dashboard message: {e}"),
            ));
        }
    };
    match message {
        ClientMessage::Ping => Some(json!({"type": "pong"}).to_string()),
        ClientMessage::Unsubscribe { sub } => {
            let before = subs.len();
            subs.retain(|s| s.id != sub);
            if subs.len() == before {
                return Some(error(
                    Some(&sub),
                    "unknown_subscription",
                    "no such subscription",
                ));
            }
            Some(json!({"type": "unsubscribed", "sub": sub}).to_string())
        }
        ClientMessage::Subscribe { sub, course, view } => {
            let id = sub.unwrap_or_else(|| format!("{course}/{view}"));
            if id.is_empty() || id.len() > 200 {
                return Some(error(None, "bad_request", "sub must be 1-200 characters"));
            }
            if hub.aggregator(&view).is_none() {
                return Some(error(
                    Some(&id),
                    "unknown_view",
                    &format!("no view named {view:?}"),
                ));
            }
            if !can_watch(principal, &course, &hub.rt.roster) {
                tracing::info!(%course, %view, "dashboard subscription refused: not staff of the course");
                // The same answer whether or not the course exists.
                return Some(error(
                    Some(&id),
                    "not_your_course",
                    &format!("you are not staff of course {course:?}"),
                ));
            }
            let replacing = subs.iter().any(|s| s.id == id);
            if !replacing && subs.len() >= hub.config.max_subscriptions {
                metrics::limit_hit("subscriptions_per_dashboard");
                return Some(error(
                    Some(&id),
                    "too_many_subscriptions",
                    &format!(
                        "at most {} views per connection",
                        hub.config.max_subscriptions
                    ),
                ));
            }
            subs.retain(|s| s.id != id);
            match hub.subscribe(&course, &view) {
                Ok(handle) => {
                    tracing::debug!(%course, %view, sub = %id, "dashboard subscribed");
                    subs.push(Sub {
                        id,
                        course,
                        handle,
                        sent: 0,
                    });
                    None
                }
                Err(SubscribeError::UnknownView(v)) => Some(error(
                    Some(&id),
                    "unknown_view",
                    &format!("no view named {v:?}"),
                )),
            }
        }
    }
}
