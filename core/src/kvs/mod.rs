//! The key-value store of reducer states.
//!
//! One trait, [`Kvs`], with the smallest surface the runtime needs: apply a batch of updates
//! (atomically per key), read one state, list a subject's keys, and visit everything (snapshots).
//! The memory backend keeps states typed, in place; a networked backend (Redis) serializes them
//! and makes each key's update a compare-and-set on [`Slot::revision`].

mod applied;
mod memory;
pub mod redis;

pub use applied::Applied;
pub use memory::MemoryKvs;
pub use redis::RedisKvs;

use crate::reducer::{AnyState, DynReducer, ScopeKey};
use async_trait::async_trait;
use std::fmt;
use std::sync::Arc;

/// The full key of one state: the reducer's name and the scope key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey {
    /// The reducer's name (`writing.reconstruct`).
    pub reducer: Arc<str>,
    /// The scope key (`student:tc-testcase-alice|doc_id:d1`).
    pub scope: ScopeKey,
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.reducer, self.scope)
    }
}

/// A stored state with the bookkeeping that makes application exactly-once.
pub struct Slot {
    /// The reducer's state version the state was built with.
    pub version: u32,
    /// The log positions the state reflects; events at or below them are skipped.
    pub applied: Applied,
    /// Bumped on every store; the compare-and-set version for networked backends.
    pub revision: u64,
    /// The state itself.
    pub state: Box<dyn AnyState>,
}

impl Slot {
    /// A fresh slot holding the reducer's default state.
    pub fn new(reducer: &dyn DynReducer) -> Self {
        Slot {
            version: reducer.version(),
            applied: Applied::default(),
            revision: 0,
            state: reducer.new_state(),
        }
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("version", &self.version)
            .field("applied", &self.applied)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// A batch of updates the router hands to [`Kvs::update`].
pub trait UpdateBatch: Send {
    /// The keys to update, each with the reducer that owns it.
    fn keys(&self) -> &[(StateKey, Arc<dyn DynReducer>)];
    /// Applies the batch's pending events for key `index` to `slot`; returns whether the slot
    /// changed (and must be stored). A backend may call it again for the same key with a
    /// fresher slot after a lost compare-and-set.
    fn apply(&mut self, index: usize, slot: &mut Slot) -> bool;
}

/// Why a KVS operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KvsError {
    /// The backend cannot be reached.
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
    /// A stored state could not be decoded.
    #[error("stored state for {key} does not decode: {reason}")]
    Decode {
        /// The key.
        key: String,
        /// The decoder's message.
        reason: String,
    },
}

/// The state store.
#[async_trait]
pub trait Kvs: Send + Sync + 'static {
    /// Applies `batch`: for each of its keys, loads the slot (or a fresh one), calls
    /// [`UpdateBatch::apply`], and stores it when changed. Each key's update is atomic.
    async fn update(&self, batch: &mut dyn UpdateBatch) -> Result<(), KvsError>;

    /// Calls `read` with the slot stored at `key` (or `None`).
    async fn read(
        &self,
        key: &StateKey,
        reducer: &dyn DynReducer,
        read: &mut (dyn for<'s> FnMut(Option<&'s Slot>) + Send),
    ) -> Result<(), KvsError>;

    /// The keys whose subject is `subject` (`student:<id>`, `course:<id>`).
    async fn keys_of(&self, subject: &str) -> Result<Vec<StateKey>, KvsError>;

    /// Visits every stored state (for snapshots), in no particular order.
    async fn scan(
        &self,
        visit: &mut (dyn for<'s> FnMut(&'s StateKey, &'s Slot) + Send),
    ) -> Result<(), KvsError>;

    /// Whether [`Kvs::update`] completes without waiting on I/O (the memory store): a replay
    /// may then drive updates of disjoint keys from several plain threads at once
    /// ([`crate::replay::parallel`]).
    fn updates_in_memory(&self) -> bool {
        false
    }

    /// Whether the backend is reachable now (for `/readyz`).
    async fn healthy(&self) -> bool {
        true
    }

    /// Whether the store lost updates since last asked — a Redis that came back empty, or
    /// restarted from a persistence file older than its last writes: the sequence number of
    /// this node's log from which the log must be applied again (1: rebuild from the start).
    /// Asking clears it.
    fn take_rewind(&self) -> Option<u64> {
        None
    }
}

/// The KVS type the runtime holds.
pub type SharedKvs = Arc<dyn Kvs>;
