//! Per-event scratch space: values a module derives from an event once and shares among its
//! reducers (e.g. the writing module parses `object` once, not once per reducer).
//!
//! Memoised values are pure functions of the event, so using them keeps reducers
//! deterministic.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, Mutex};

type Slot = (TypeId, &'static str, Arc<dyn Any + Send + Sync>);

/// Derived values of one event, by type and tag.
#[derive(Default)]
pub struct Memo {
    slots: Mutex<Vec<Slot>>,
}

impl Memo {
    /// The value stored under (`T`, `tag`), made by `make` the first time.
    pub fn get_or_insert<T: Any + Send + Sync>(
        &self,
        tag: &'static str,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let id = TypeId::of::<T>();
        if let Some(found) = self.find::<T>(id, tag) {
            return found;
        }
        // Made outside the lock: `make` may itself consult the memo.
        let value = Arc::new(make());
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.push((id, tag, value.clone()));
        value
    }

    fn find<T: Any + Send + Sync>(&self, id: TypeId, tag: &'static str) -> Option<Arc<T>> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .find(|(t, g, _)| *t == id && *g == tag)
            .and_then(|(_, _, v)| v.clone().downcast::<T>().ok())
    }
}

impl fmt::Debug for Memo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Memo")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_per_type_and_tag() {
        let memo = Memo::default();
        let mut calls = 0;
        let a = memo.get_or_insert("x", || {
            calls += 1;
            5u32
        });
        let b = memo.get_or_insert("x", || 6u32);
        let c = memo.get_or_insert("y", || 7u32);
        assert_eq!((*a, *b, *c, calls), (5, 5, 7, 1));
    }
}
