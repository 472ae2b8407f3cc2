//! Modules: how a feature (writing analytics, office hours, ...) hands the runtime its parts.
//!
//! Nothing in `core` knows a module by name: the binary's `main` lists the modules it ships and
//! each registers its reducers, event adapters and aggregators on a [`ModuleBuilder`].

use crate::aggregator::Aggregator;
use crate::reducer::{DynReducer, Reducer, erase};
use std::sync::Arc;

/// A feature module.
///
/// ```
/// use classpulse_core::module::{Module, ModuleBuilder};
/// struct Nothing;
/// impl Module for Nothing {
///     fn name(&self) -> &str { "nothing" }
///     fn register(&self, _m: &mut ModuleBuilder) {}
/// }
/// ```
pub trait Module: Send + Sync + 'static {
    /// The module's name, also its section in `config.toml` (`[modules.<name>]`).
    fn name(&self) -> &str;
    /// Registers the module's parts.
    fn register(&self, m: &mut ModuleBuilder);
}

/// Derives extra fields for an incoming event before it is logged (Learning Observer's
/// adapters: e.g. `doc_id` from `object.url`). Runs once, at ingest; the log holds the result,
/// so replay needs no adapters.
pub trait EventAdapter: Send + Sync + 'static {
    /// The sources this adapter applies to (empty: every source).
    fn sources(&self) -> &[&str] {
        &[]
    }
    /// The top-level fields `derive` reads. When they are byte-identical to the previous
    /// event's on the same connection (typing in one document), the previous result is reused.
    /// Empty (the default): never reuse.
    fn inputs(&self) -> &[&str] {
        &[]
    }

    /// Fields to add to the event, as `(name, JSON text)`; `event` reads the event's
    /// top-level fields (lock fields merged). A field the event already has is replaced only
    /// when its value is falsy (`null`, `""`, `0`, `false`), as Learning Observer's adapters do.
    fn derive(&self, event: &dyn crate::event::Lookup) -> Vec<(&'static str, String)>;
}

/// Collects what modules register.
#[derive(Default)]
pub struct ModuleBuilder {
    pub(crate) reducers: Vec<(String, Arc<dyn DynReducer>)>,
    pub(crate) adapters: Vec<Arc<dyn EventAdapter>>,
    pub(crate) aggregators: Vec<(String, Arc<dyn Aggregator>)>,
    pub(crate) current_module: String,
}

impl ModuleBuilder {
    /// Registers a reducer.
    pub fn reducer<R: Reducer>(&mut self, reducer: R) -> &mut Self {
        self.reducers
            .push((self.current_module.clone(), erase(reducer)));
        self
    }

    /// Registers an aggregator: a course view dashboards can subscribe to.
    pub fn aggregator(&mut self, aggregator: impl Aggregator) -> &mut Self {
        self.aggregators
            .push((self.current_module.clone(), Arc::new(aggregator)));
        self
    }

    /// Registers an event adapter.
    pub fn adapter(&mut self, adapter: impl EventAdapter) -> &mut Self {
        self.adapters.push(Arc::new(adapter));
        self
    }
}
