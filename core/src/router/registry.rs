//! The reducer registry: which reducers run for which source, built once at start-up.

use crate::reducer::DynReducer;
use std::collections::HashMap;
use std::sync::Arc;

/// The source name that means "every source".
pub const ANY_SOURCE: &str = "*";

/// A reducer as registered by a module.
#[derive(Clone)]
pub struct RegisteredReducer {
    /// The reducer's name.
    pub name: Arc<str>,
    /// The module that registered it.
    pub module: Arc<str>,
    /// The reducer.
    pub reducer: Arc<dyn DynReducer>,
    /// Its scope (asked once, at start-up).
    pub scope: crate::reducer::Scope,
    /// Its position in the registry.
    pub index: usize,
}

/// Fast hashing for lookups made per event (the keys are module-chosen names, not input an
/// attacker picks to collide).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Reducers by name and by source.
#[derive(Default, Clone)]
pub struct Registry {
    reducers: Vec<RegisteredReducer>,
    by_source: FastMap<String, Vec<RegisteredReducer>>,
    /// The reducers of [`ANY_SOURCE`], kept apart: every event asks for them.
    any_source: Vec<RegisteredReducer>,
    by_name: FastMap<Arc<str>, RegisteredReducer>,
}

/// Two reducers share a name.
#[derive(Debug, thiserror::Error)]
#[error("reducer {0:?} is registered twice")]
pub struct DuplicateReducer(pub String);

impl Registry {
    /// Builds the registry from `(module, reducer)` pairs.
    ///
    /// # Errors
    /// When two reducers share a name.
    pub fn new(
        reducers: impl IntoIterator<Item = (String, Arc<dyn DynReducer>)>,
    ) -> Result<Self, DuplicateReducer> {
        let mut registry = Registry::default();
        for (module, reducer) in reducers {
            let entry = RegisteredReducer {
                name: Arc::from(reducer.name()),
                module: Arc::from(module.as_str()),
                scope: reducer.scope(),
                index: registry.reducers.len(),
                reducer,
            };
            if registry.by_name.contains_key(&entry.name) {
                return Err(DuplicateReducer(entry.name.to_string()));
            }
            for source in entry.reducer.sources() {
                registry
                    .by_source
                    .entry(source)
                    .or_default()
                    .push(entry.clone());
            }
            registry.by_name.insert(entry.name.clone(), entry.clone());
            registry.reducers.push(entry);
        }
        registry.any_source = registry
            .by_source
            .get(ANY_SOURCE)
            .cloned()
            .unwrap_or_default();
        Ok(registry)
    }

    /// The reducers an event from `source` goes to: those registered for it, then those
    /// registered for every source (`"*"`) — unless the event is a fired timer (`timer`): that
    /// is the module's own event, which carries the identity of whoever armed it but is not
    /// their activity (an offer expiring is not something the TA who called did), so it goes
    /// to its source's reducers only.
    pub fn for_source(
        &self,
        source: &str,
        timer: bool,
    ) -> impl Iterator<Item = &RegisteredReducer> {
        let specific = self.by_source.get(source).map_or(&[][..], Vec::as_slice);
        let all = if source == ANY_SOURCE || timer {
            &[][..]
        } else {
            &self.any_source[..]
        };
        specific.iter().chain(all)
    }

    /// A reducer by name.
    pub fn get(&self, name: &str) -> Option<&RegisteredReducer> {
        self.by_name.get(name)
    }

    /// The module that registered reducer `name` (empty when unknown).
    pub fn module_of(&self, name: &str) -> &str {
        self.by_name.get(name).map_or("", |r| &r.module)
    }

    /// All reducers, in registration order.
    pub fn all(&self) -> &[RegisteredReducer] {
        &self.reducers
    }

    /// Whether any reducer listens to `source`.
    pub fn knows_source(&self, source: &str) -> bool {
        self.by_source.contains_key(source)
    }
}
