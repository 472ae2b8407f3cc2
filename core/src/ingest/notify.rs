//! Notifications to open ingest sockets: a reducer's `Notify` effect for a student reaches
//! every socket that student has open on any node (via pub/sub), as a `status` message.

use crate::pubsub::{Delivery, NOTIFICATIONS, PubSub};
use crate::reducer::Recipient;
use dashmap::DashMap;
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Open sockets by student, on this node.
#[derive(Default)]
pub struct Notifier {
    sockets: DashMap<String, Vec<(u64, mpsc::Sender<String>)>>,
}

#[derive(Deserialize)]
struct Envelope {
    to: Recipient,
    message: serde_json::Value,
}

impl Notifier {
    /// Registers a socket of `student`.
    pub fn register(&self, student: &str, conn: u64, tx: mpsc::Sender<String>) {
        self.sockets
            .entry(student.to_owned())
            .or_default()
            .push((conn, tx));
    }

    /// Forgets a socket.
    pub fn unregister(&self, student: &str, conn: u64) {
        if let Some(mut list) = self.sockets.get_mut(student) {
            list.retain(|(c, _)| *c != conn);
            let empty = list.is_empty();
            drop(list);
            if empty {
                self.sockets.remove_if(student, |_, l| l.is_empty());
            }
        }
    }

    /// Delivers one published notification to this node's sockets. Returns how many got it.
    pub fn deliver(&self, payload: &[u8]) -> usize {
        let Ok(envelope) = serde_json::from_slice::<Envelope>(payload) else {
            tracing::warn!("ignoring a malformed notification");
            return 0;
        };
        let Recipient::Student(student) = envelope.to else {
            // Course-wide recipients are served by the dashboards hub.
            return 0;
        };
        let mut message = envelope.message;
        if let Some(obj) = message.as_object_mut() {
            obj.entry("status").or_insert_with(|| "notify".into());
        }
        let text = message.to_string();
        let mut sent = 0;
        if let Some(list) = self.sockets.get(&student) {
            for (_, tx) in list.iter() {
                // A socket too far behind misses it rather than holding the server up.
                if tx.try_send(text.clone()).is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    }

    /// Delivers notifications from pub/sub until `shutdown`.
    pub async fn run(self: Arc<Self>, pubsub: Arc<dyn PubSub>, shutdown: CancellationToken) {
        let mut sub = match pubsub.subscribe(NOTIFICATIONS).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot subscribe to notifications");
                return;
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                d = sub.next() => match d {
                    Some(Delivery::Message(bytes)) => { self.deliver(&bytes); }
                    Some(Delivery::Lagged(n)) => tracing::warn!(missed = n, "notifications dropped: delivery fell behind"),
                    None => return,
                }
            }
        }
    }
}
