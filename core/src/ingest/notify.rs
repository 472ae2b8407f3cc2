//! Notifications to open ingest sockets: a reducer's `Notify` effect for a student reaches
//! every socket that student has open on any node (via pub/sub), as a `status` message.

use crate::pubsub::{Delivery, NOTIFICATIONS, PubSub};
use dashmap::DashMap;
use futures_util::StreamExt;
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Open sockets by student, on this node.
#[derive(Default)]
pub struct Notifier {
    sockets: DashMap<String, Vec<(u64, mpsc::Sender<String>)>>,
}

/// One notification as published: the message is forwarded to sockets as it is.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    to: To<'a>,
    #[serde(borrow)]
    message: &'a serde_json::value::RawValue,
}

/// A [`crate::reducer::Recipient`] as published (`{"kind", "id"}`), borrowed from the message: the delivery
/// path allocates nothing per notification it does not send.
#[derive(Deserialize)]
struct To<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// The `kind` of [`crate::reducer::Recipient::Student`] on the wire.
const STUDENT: &str = "student";

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

    /// Delivers one published message — an array of notifications (see
    /// [`NOTIFICATIONS`]) — to this node's sockets. Returns how many socket messages went out.
    pub fn deliver(&self, payload: &[u8]) -> usize {
        let Ok(envelopes) = serde_json::from_slice::<Vec<Envelope<'_>>>(payload) else {
            tracing::warn!("ignoring a malformed notification message");
            return 0;
        };
        let mut sent = 0;
        for envelope in envelopes {
            if envelope.to.kind != STUDENT {
                // Course-wide recipients are served by the dashboards hub.
                continue;
            }
            let Some(list) = self.sockets.get(envelope.to.id.as_ref()) else {
                continue;
            };
            let text = envelope.message.get();
            for (_, tx) in list.iter() {
                // A socket too far behind misses it rather than holding the server up.
                if tx.try_send(text.to_owned()).is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    }

    /// Tells every socket on this node that notifications were lost, so pages that show state
    /// from them read it again (`{"status":"resync"}`).
    pub fn resync(&self) {
        const RESYNC: &str = "{\"status\":\"resync\"}";
        for list in self.sockets.iter() {
            for (_, tx) in list.iter() {
                let _ = tx.try_send(RESYNC.to_owned());
            }
        }
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
                    Some(Delivery::Lagged(n)) => {
                        tracing::warn!(missed = n, "notifications dropped: delivery fell behind");
                        self.resync();
                    }
                    None => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_student_recipient_is_published_as_the_notifier_reads_it() {
        let to = serde_json::to_string(&crate::reducer::Recipient::Student("a\"b".into())).unwrap();
        let read: To<'_> = serde_json::from_str(&to).unwrap();
        assert_eq!((read.kind.as_ref(), read.id.as_ref()), (STUDENT, "a\"b"));
    }

    #[test]
    fn a_batch_reaches_each_students_sockets_in_order_and_a_lag_asks_for_a_resync() {
        let notifier = Notifier::default();
        let (a1, mut ra1) = mpsc::channel(8);
        let (a2, mut ra2) = mpsc::channel(8);
        let (b, mut rb) = mpsc::channel(8);
        notifier.register("ann", 1, a1);
        notifier.register("ann", 2, a2);
        notifier.register("bob", 3, b);
        let batch = br#"[{"to":{"kind":"student","id":"ann"},"message":{"status":"office_hours","what":"offer"}},
            {"to":{"kind":"course_staff","id":"C1"},"message":{"status":"notify"}},
            {"to":{"kind":"student","id":"bob"},"message":{"status":"office_hours","what":"position"}},
            {"to":{"kind":"student","id":"ann"},"message":{"status":"office_hours","what":"session"}},
            {"to":{"kind":"student","id":"zed"},"message":{"status":"office_hours"}}]"#;
        assert_eq!(
            notifier.deliver(batch),
            5,
            "2 + 2 to Ann's sockets, 1 to Bob's"
        );
        for rx in [&mut ra1, &mut ra2] {
            assert_eq!(
                rx.try_recv().unwrap(),
                r#"{"status":"office_hours","what":"offer"}"#
            );
            assert_eq!(
                rx.try_recv().unwrap(),
                r#"{"status":"office_hours","what":"session"}"#
            );
        }
        assert!(rb.try_recv().unwrap().contains("position"));
        assert_eq!(notifier.deliver(b"{not json"), 0);
        notifier.resync();
        for rx in [&mut ra1, &mut ra2, &mut rb] {
            assert_eq!(rx.try_recv().unwrap(), r#"{"status":"resync"}"#);
        }
    }
}
