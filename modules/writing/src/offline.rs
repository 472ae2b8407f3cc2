//! Running the writing reducers without a runtime: for tests, benchmarks and offline analysis.
//!
//! [`OfflineRouter`] does what the core's router does for one event — find the reducers of
//! the event's source, derive each key from its scope (skipping reducers whose scope field the
//! event lacks), apply — on states kept typed in a `HashMap`, synchronously, with no log, KVS
//! or pub/sub. [`log_line`] writes an event as the core's event log does, with the
//! `doc_id` adapter applied as ingest would.

use crate::module::DocIdAdapter;
use classpulse_core::event::envelope::EnvelopeBody;
use classpulse_core::event::{Auth, Event, Fields, Security, Timestamp};
use classpulse_core::module::EventAdapter;
use classpulse_core::reducer::{AnyState, DynReducer, Outcome, ScopeKey};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Writes one event-log line (with its newline) for `client` (a JSON object), sent by the
/// student `safe_user_id` from `source` at server time `time`. Like ingest, adds the `doc_id`
/// Learning Observer's adapter derives from `object.url`.
///
/// # Panics
/// When `client` is not a JSON object.
pub fn log_line(
    seq: u64,
    time: Timestamp,
    safe_user_id: &str,
    source: &str,
    client: &str,
) -> String {
    let fields = Fields::parse(client).expect("client event is a JSON object");
    let mut client = client.trim_end().to_owned();
    for (name, json) in DocIdAdapter.derive(&fields) {
        if !fields.contains(name) {
            client.pop(); // the closing brace
            if !fields.is_empty() {
                client.push(',');
            }
            client.push_str(&serde_json::to_string(name).unwrap_or_default());
            client.push(':');
            client.push_str(&json);
            client.push('}');
        }
    }
    let auth = Auth {
        providence: Cow::Borrowed("tc"),
        safe_user_id: Cow::Borrowed(safe_user_id),
        sec: Security::Unauthenticated,
        user_id: Cow::Borrowed(safe_user_id),
    };
    let mut line = EnvelopeBody {
        node: "offline",
        conn: 1,
        ip: "",
        agent: "",
        auth: &auth,
        source,
        timer: None,
    }
    .line(seq, time, &client);
    line.push('\n');
    line
}

/// Reducers and their states, keyed like the core keys them.
pub struct OfflineRouter {
    reducers: Vec<Arc<dyn DynReducer>>,
    sources: Vec<Vec<String>>,
    states: HashMap<(usize, ScopeKey), Box<dyn AnyState>>,
}

/// What one event did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Reducers that ran (their scope fields were present).
    pub applied: usize,
    /// Reducers that changed their state.
    pub changed: usize,
    /// Reducer errors, as `(reducer, reason)`.
    pub errors: Vec<(String, String)>,
}

impl OfflineRouter {
    /// A router over `reducers`.
    pub fn new(reducers: Vec<Arc<dyn DynReducer>>) -> Self {
        let sources = reducers.iter().map(|r| r.sources()).collect();
        OfflineRouter {
            reducers,
            sources,
            states: HashMap::new(),
        }
    }

    /// Applies one event.
    pub fn apply(&mut self, event: &Event<'_>) -> Routed {
        let mut routed = Routed::default();
        for (index, reducer) in self.reducers.iter().enumerate() {
            if !self.sources[index].iter().any(|s| s == event.source()) {
                continue;
            }
            let Some(key) = reducer.scope().key_for(event) else {
                continue;
            };
            let state = self
                .states
                .entry((index, key))
                .or_insert_with(|| reducer.new_state());
            let outcome: Outcome = reducer.reduce(state.as_mut(), event);
            routed.applied += 1;
            routed.changed += usize::from(outcome.is_changed());
            if let Some(reason) = outcome.error_reason() {
                routed
                    .errors
                    .push((reducer.name().to_owned(), reason.to_owned()));
            }
        }
        routed
    }

    /// Parses a log line and applies it.
    ///
    /// # Errors
    /// When the line is not an event-log line.
    pub fn apply_line(
        &mut self,
        line: &str,
    ) -> Result<Routed, classpulse_core::event::envelope::LineError> {
        let event = Event::from_line(line.trim_end())?;
        Ok(self.apply(&event))
    }

    /// The state of reducer `name` at `key`, typed.
    pub fn state<T: 'static>(&self, name: &str, key: &ScopeKey) -> Option<&T> {
        let index = self.reducers.iter().position(|r| r.name() == name)?;
        self.states
            .get(&(index, key.clone()))?
            .as_any()
            .downcast_ref::<T>()
    }

    /// Every state as `(reducer name, key, JSON)`, sorted.
    pub fn snapshot(&self) -> Vec<(String, ScopeKey, serde_json::Value)> {
        let mut all: Vec<_> = self
            .states
            .iter()
            .map(|((i, key), state)| {
                (
                    self.reducers[*i].name().to_owned(),
                    key.clone(),
                    state.to_json_value(),
                )
            })
            .collect();
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all
    }

    /// Number of stored states.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether no state is stored.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}
