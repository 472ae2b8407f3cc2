//! The in-memory KVS: typed states kept in place in a sharded map.
//!
//! No serialization per event: a reducer mutates its state where it lives. Serialization
//! happens only when a state leaves the process (snapshots, the read API).

use super::{Kvs, KvsError, Slot, StateKey, UpdateBatch};
use crate::reducer::DynReducer;
use async_trait::async_trait;
use dashmap::DashMap;

/// States in memory. The default backend; lost on exit and rebuilt from the log at start-up.
#[derive(Default)]
pub struct MemoryKvs {
    states: DashMap<StateKey, Slot, foldhash::fast::RandomState>,
    by_subject: DashMap<String, Vec<StateKey>, foldhash::fast::RandomState>,
}

impl MemoryKvs {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored states.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Stores a slot as is (loading snapshots).
    pub fn insert(&self, key: StateKey, slot: Slot) {
        if self.states.insert(key.clone(), slot).is_none() {
            self.index(key);
        }
    }

    /// Removes the states `drop` picks (a replay that rebuilds them); returns how many.
    pub fn remove_where(&self, mut drop: impl FnMut(&StateKey) -> bool) -> usize {
        let before = self.states.len();
        self.states.retain(|key, _| !drop(key));
        self.by_subject.retain(|_, keys| {
            keys.retain(|k| !drop(k));
            !keys.is_empty()
        });
        before - self.states.len()
    }

    fn index(&self, key: StateKey) {
        self.by_subject
            .entry(key.scope.subject().to_owned())
            .or_default()
            .push(key);
    }
}

#[async_trait]
impl Kvs for MemoryKvs {
    async fn update(&self, batch: &mut dyn UpdateBatch) -> Result<(), KvsError> {
        let count = batch.keys().len();
        for index in 0..count {
            let (key, reducer) = &batch.keys()[index];
            let (key, reducer) = (key.clone(), reducer.clone());
            let mut created = false;
            let mut entry = self.states.entry(key.clone()).or_insert_with(|| {
                created = true;
                Slot::new(&*reducer)
            });
            if batch.apply(index, &mut entry) {
                entry.revision += 1;
            }
            drop(entry);
            if created {
                self.index(key);
            }
        }
        Ok(())
    }

    fn updates_in_memory(&self) -> bool {
        true
    }

    async fn read(
        &self,
        key: &StateKey,
        _reducer: &dyn DynReducer,
        read: &mut (dyn for<'s> FnMut(Option<&'s Slot>) + Send),
    ) -> Result<(), KvsError> {
        match self.states.get(key) {
            Some(slot) => read(Some(&slot)),
            None => read(None),
        }
        Ok(())
    }

    async fn keys_of(&self, subject: &str) -> Result<Vec<StateKey>, KvsError> {
        Ok(self
            .by_subject
            .get(subject)
            .map(|keys| keys.clone())
            .unwrap_or_default())
    }

    async fn scan(
        &self,
        visit: &mut (dyn for<'s> FnMut(&'s StateKey, &'s Slot) + Send),
    ) -> Result<(), KvsError> {
        for entry in self.states.iter() {
            visit(entry.key(), entry.value());
        }
        Ok(())
    }
}
