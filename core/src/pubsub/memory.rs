//! In-process pub/sub on tokio broadcast channels, one per topic.

use super::{Delivery, PubSub, PubSubError, Subscription};
use async_trait::async_trait;
use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::broadcast;

/// Pub/sub within one process. Each topic buffers `capacity` messages per subscriber; a
/// subscriber further behind gets [`Delivery::Lagged`].
pub struct MemoryPubSub {
    topics: DashMap<String, broadcast::Sender<Bytes>>,
    capacity: usize,
}

impl Default for MemoryPubSub {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl MemoryPubSub {
    /// A pub/sub whose topics buffer `capacity` messages.
    pub fn new(capacity: usize) -> Self {
        MemoryPubSub {
            topics: DashMap::new(),
            capacity: capacity.max(1),
        }
    }

    fn sender(&self, topic: &str) -> broadcast::Sender<Bytes> {
        if let Some(tx) = self.topics.get(topic) {
            return tx.clone();
        }
        self.topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .clone()
    }
}

#[async_trait]
impl PubSub for MemoryPubSub {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), PubSubError> {
        if let Some(tx) = self.topics.get(topic) {
            // No receivers is not an error: nobody is listening right now.
            let _ = tx.send(payload);
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, PubSubError> {
        let rx = self.sender(topic).subscribe();
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move {
                match rx.recv().await {
                    Ok(bytes) => Some((Delivery::Message(bytes), rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => Some((Delivery::Lagged(n), rx)),
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            },
        )))
    }
}
