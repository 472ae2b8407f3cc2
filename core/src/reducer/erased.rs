//! The one `dyn` boundary: reducers are type-erased once at start-up so the router and the
//! backends handle them uniformly, while the memory KVS still keeps each state typed, in place.

use super::{Outcome, Reducer, Scope};
use crate::event::Event;
use std::any::Any;
use std::sync::Arc;

/// A reducer state behind `dyn`: downcastable, and serializable where it leaves the process.
pub trait AnyState: Any + Send + Sync {
    /// Serializes to JSON.
    fn to_json_bytes(&self) -> Vec<u8>;
    /// Serializes to a JSON value.
    fn to_json_value(&self) -> serde_json::Value;
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: serde::Serialize + Send + Sync + 'static> AnyState for T {
    fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|e| {
            tracing::error!(error = %e, "state does not serialize");
            b"null".to_vec()
        })
    }
    fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A reducer with its state type erased.
pub trait DynReducer: Send + Sync {
    /// See [`Reducer::name`].
    fn name(&self) -> &str;
    /// See [`Reducer::sources`].
    fn sources(&self) -> Vec<String>;
    /// See [`Reducer::scope`].
    fn scope(&self) -> Scope;
    /// See [`Reducer::VERSION`].
    fn version(&self) -> u32;
    /// A fresh default state.
    fn new_state(&self) -> Box<dyn AnyState>;
    /// Decodes a stored state.
    ///
    /// # Errors
    /// When the bytes are not this reducer's state.
    fn decode(&self, json: &[u8]) -> Result<Box<dyn AnyState>, serde_json::Error>;
    /// Applies an event to a state made by this reducer.
    fn reduce(&self, state: &mut dyn AnyState, event: &Event<'_>) -> Outcome;
}

struct Erased<R>(R);

impl<R: Reducer> DynReducer for Erased<R> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn sources(&self) -> Vec<String> {
        self.0.sources().iter().map(|s| s.to_string()).collect()
    }
    fn scope(&self) -> Scope {
        self.0.scope()
    }
    fn version(&self) -> u32 {
        R::VERSION
    }
    fn new_state(&self) -> Box<dyn AnyState> {
        Box::new(R::State::default())
    }
    fn decode(&self, json: &[u8]) -> Result<Box<dyn AnyState>, serde_json::Error> {
        Ok(Box::new(serde_json::from_slice::<R::State>(json)?))
    }
    fn reduce(&self, state: &mut dyn AnyState, event: &Event<'_>) -> Outcome {
        match state.as_any_mut().downcast_mut::<R::State>() {
            Some(state) => self.0.reduce(state, event),
            None => Outcome::error(format!(
                "state stored under {} is not of its type",
                self.0.name()
            )),
        }
    }
}

/// Erases a reducer's type.
pub fn erase<R: Reducer>(reducer: R) -> Arc<dyn DynReducer> {
    Arc::new(Erased(reducer))
}
