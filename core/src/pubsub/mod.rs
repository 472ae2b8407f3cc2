//! Publish/subscribe for change notifications and messages to people.
//!
//! Topics are strings, payloads are bytes (JSON by convention). Delivery is best-effort and
//! bounded: a subscriber that falls behind is told how much it missed ([`Delivery::Lagged`]) and
//! must resynchronise from state — never from an unbounded backlog.

mod memory;
mod redis;

pub use memory::MemoryPubSub;
pub use redis::RedisPubSub;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::sync::Arc;

/// Topic carrying state changes: a JSON array of `{"module","reducer","key"}` per applied batch.
pub const STATE_CHANGES: &str = "state.changes";
/// Topic carrying notifications from reducers' `Notify` effects: a JSON array of
/// `{"to": recipient, "message": object}` per applied batch (several for a very large one), in
/// the order the reducers asked; each `message` has its `status`.
pub const NOTIFICATIONS: &str = "notify";

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A published payload.
    Message(Bytes),
    /// The subscriber fell behind and this many messages were dropped.
    Lagged(u64),
}

/// A stream of deliveries for one topic.
pub type Subscription = BoxStream<'static, Delivery>;

/// Why a pub/sub operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    /// The backend cannot be reached.
    #[error("pub/sub unavailable: {0}")]
    Unavailable(String),
}

/// A pub/sub backend.
#[async_trait]
pub trait PubSub: Send + Sync + 'static {
    /// Publishes `payload` on `topic`; succeeds even when nobody listens.
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), PubSubError>;
    /// Subscribes to `topic`.
    async fn subscribe(&self, topic: &str) -> Result<Subscription, PubSubError>;
    /// Whether the backend is reachable now (for `/readyz`).
    async fn healthy(&self) -> bool {
        true
    }
}

/// The pub/sub type the runtime holds.
pub type SharedPubSub = Arc<dyn PubSub>;
