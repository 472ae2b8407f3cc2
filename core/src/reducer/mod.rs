//! Reducers: the per-key state machines module authors write.
//!
//! A reducer is a pure function of (previous state, event): no I/O, no wall clock (time is the
//! event's server time), no randomness. The router runs it for every event of the sources it
//! listens to, on the state stored under the key its [`Scope`] derives from the authenticated
//! identity and the event's fields. Replaying the log therefore gives the same state, byte for
//! byte. Anything else a reducer wants to happen — tell someone, wake up later — it returns as an
//! [`Effect`] for the runtime to carry out.

mod erased;
mod outcome;
mod scope;

pub use erased::{AnyState, DynReducer, erase};
pub use outcome::{Effect, Outcome, Recipient, TimerRequest};
pub use scope::{Scope, ScopeKey, Subject};

use crate::event::Event;
use serde::{Serialize, de::DeserializeOwned};

/// A per-key state machine.
///
/// ```
/// use classpulse_core::event::Event;
/// use classpulse_core::reducer::{Outcome, Reducer, Scope};
///
/// /// Counts keystrokes per student.
/// struct Keystrokes;
///
/// impl Reducer for Keystrokes {
///     type State = u64;
///     fn name(&self) -> &str { "example.keystrokes" }
///     fn sources(&self) -> &[&str] { &["org.mitros.writing_analytics"] }
///     fn scope(&self) -> Scope { Scope::student() }
///     fn reduce(&self, count: &mut u64, event: &Event<'_>) -> Outcome {
///         if event.kind() != "keystroke" { return Outcome::unchanged(); }
///         *count += 1;
///         Outcome::changed()
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a ClassPulse reducer",
    note = "implement `classpulse_core::reducer::Reducer`: a name, its sources, a scope, and a pure `reduce`"
)]
pub trait Reducer: Send + Sync + 'static {
    /// The state kept per key. `Default` is the state before the first event.
    type State: Serialize + DeserializeOwned + Default + Send + Sync + 'static;

    /// Version of the state's shape. A state stored under another version is rebuilt from
    /// the log instead of failing to load; bump it when `State` changes incompatibly.
    const VERSION: u32 = 1;

    /// Unique name, `module.reducer` (`writing.reconstruct`).
    fn name(&self) -> &str;

    /// The event sources this reducer listens to (`org.mitros.writing_analytics`); `"*"`
    /// listens to every source.
    fn sources(&self) -> &[&str];

    /// How the state key is derived from an event.
    fn scope(&self) -> Scope;

    /// Applies one event. Pure: reads only `state` and `event`.
    fn reduce(&self, state: &mut Self::State, event: &Event<'_>) -> Outcome;
}
