//! Pub/sub over Redis channels, shared by every node (`fred`'s subscriber client).
//!
//! Each topic is the Redis channel `<prefix>:<topic>`. One subscriber connection per process
//! carries every topic; its messages fan out to the local subscribers through a bounded
//! broadcast channel per topic, so a slow local subscriber gets [`Delivery::Lagged`] and never
//! holds the Redis connection up (Redis itself drops a subscriber 32 MB behind).
//!
//! When the connection drops, `fred` reconnects with backoff and subscribes to every topic
//! again; each local subscriber is then sent `Lagged(0)` ("an unknown number were missed"), so
//! it resynchronises from state. While Redis is unreachable, publications are dropped at once
//! rather than queued (delivery is best-effort; the change is in the state store, or will be
//! when the node catches up), and the drop is logged once per incident.

use super::{Delivery, PubSub, PubSubError, Subscription};
use crate::config::RedisPubSubConfig;
use crate::kvs::redis::{client_builder, redact};
use async_trait::async_trait;
use bytes::Bytes;
use dashmap::DashMap;
use fred::clients::SubscriberClient;
use fred::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

/// Pub/sub on Redis.
pub struct RedisPubSub {
    publisher: Client,
    subscriber: SubscriberClient,
    prefix: String,
    capacity: usize,
    topics: Arc<DashMap<String, broadcast::Sender<Delivery>>>,
    dropping: AtomicBool,
    dropped: AtomicU64,
}

fn unavailable(e: impl std::fmt::Display) -> PubSubError {
    PubSubError::Unavailable(e.to_string())
}

impl RedisPubSub {
    /// Connects the publishing and the subscribing client (waiting a few seconds; when Redis
    /// does not answer, both keep trying in the background).
    ///
    /// # Errors
    /// [`PubSubError::Unavailable`] when the URL cannot be used.
    pub async fn connect(config: &RedisPubSubConfig) -> Result<Arc<RedisPubSub>, PubSubError> {
        let timeout = Duration::from_secs(2);
        let builder = client_builder(&config.url, timeout).map_err(unavailable)?;
        let publisher = builder.build().map_err(unavailable)?;
        let subscriber = builder.build_subscriber_client().map_err(unavailable)?;
        publisher.connect();
        subscriber.connect();
        let wait = Duration::from_secs(5);
        let ok = matches!(
            tokio::time::timeout(wait, publisher.wait_for_connect()).await,
            Ok(Ok(()))
        ) && matches!(
            tokio::time::timeout(wait, subscriber.wait_for_connect()).await,
            Ok(Ok(()))
        );
        if !ok {
            tracing::error!(url = %redact(&config.url), "Redis pub/sub does not answer; starting degraded");
        }
        subscriber.manage_subscriptions();
        let topics: Arc<DashMap<String, broadcast::Sender<Delivery>>> = Arc::new(DashMap::new());
        let prefix = format!("{}:", config.prefix);
        tokio::spawn(fan_out(subscriber.clone(), topics.clone(), prefix.clone()));
        Ok(Arc::new(RedisPubSub {
            publisher,
            subscriber,
            prefix,
            capacity: config.capacity.max(1),
            topics,
            dropping: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }))
    }

    /// Publications dropped because Redis was unreachable.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }
}

/// Routes the subscriber connection's messages to the local subscribers, and tells them they
/// may have missed messages after a reconnect.
async fn fan_out(
    subscriber: SubscriberClient,
    topics: Arc<DashMap<String, broadcast::Sender<Delivery>>>,
    prefix: String,
) {
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Ok(message) => {
                    let Some(topic) = message.channel.strip_prefix(prefix.as_str()) else { continue };
                    if let Some(tx) = topics.get(topic) {
                        let payload = match message.value {
                            Value::Bytes(b) => b,
                            Value::String(s) => s.into_inner(),
                            other => Bytes::copy_from_slice(other.as_bytes().unwrap_or_default()),
                        };
                        let _ = tx.send(Delivery::Message(payload));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // This process fell behind its own connection: everyone may have missed some.
                    for tx in topics.iter() {
                        let _ = tx.send(Delivery::Lagged(n));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            reconnect = reconnects.recv() => match reconnect {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    for tx in topics.iter() {
                        let _ = tx.send(Delivery::Lagged(0));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[async_trait]
impl PubSub for RedisPubSub {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), PubSubError> {
        if !self.publisher.is_connected() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.dropping.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    "Redis pub/sub unreachable: change messages are dropped until it is back"
                );
            }
            return Ok(());
        }
        let result: Result<i64, Error> = self
            .publisher
            .publish(self.channel(topic), Value::Bytes(payload))
            .await;
        match result {
            Ok(_) => {
                if self.dropping.swap(false, Ordering::AcqRel) {
                    tracing::info!(dropped = self.dropped(), "Redis pub/sub reachable again");
                }
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, PubSubError> {
        let mut created = false;
        let rx = self
            .topics
            .entry(topic.to_owned())
            .or_insert_with(|| {
                created = true;
                broadcast::channel(self.capacity).0
            })
            .subscribe();
        if created {
            let channel = self.channel(topic);
            if let Err(e) = self.subscriber.subscribe(channel.clone()).await {
                // Keep trying in the background; the subscriber is told it lagged once it works.
                tracing::warn!(%topic, error = %e, "cannot subscribe yet; retrying");
                let subscriber = self.subscriber.clone();
                let topics = self.topics.clone();
                let topic = topic.to_owned();
                tokio::spawn(async move {
                    let mut backoff = Duration::from_millis(100);
                    loop {
                        tokio::time::sleep(backoff).await;
                        if subscriber.subscribe(channel.clone()).await.is_ok() {
                            if let Some(tx) = topics.get(&topic) {
                                let _ = tx.send(Delivery::Lagged(0));
                            }
                            return;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                });
            }
        }
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move {
                match rx.recv().await {
                    Ok(delivery) => Some((delivery, rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => Some((Delivery::Lagged(n), rx)),
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            },
        )))
    }

    async fn healthy(&self) -> bool {
        self.publisher.is_connected() && self.subscriber.is_connected()
    }
}
