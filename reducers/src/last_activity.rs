//! When a key last saw an event, and of what type: drives "active / idle" on dashboards.

use classpulse_core::event::Event;
use classpulse_core::reducer::{Outcome, Reducer, Scope};
use serde::{Deserialize, Serialize};

/// `{"last_seen": seconds, "last_event": type, "first_seen": seconds}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LastActivityState {
    /// Server time of the first event, in seconds.
    pub first_seen: Option<f64>,
    /// Server time of the latest event, in seconds.
    pub last_seen: Option<f64>,
    /// The latest event's type.
    pub last_event: String,
}

impl LastActivityState {
    /// Whether the key was active within `window_secs` of `now_secs`.
    pub fn is_active(&self, now_secs: f64, window_secs: f64) -> bool {
        self.last_seen.is_some_and(|t| now_secs - t <= window_secs)
    }
}

/// Last activity per key.
#[derive(Debug, Clone)]
pub struct LastActivity {
    name: String,
    sources: Vec<&'static str>,
    scope: Scope,
}

impl LastActivity {
    /// A reducer named `name` over `sources`, keyed by `scope`.
    pub fn new(name: impl Into<String>, sources: &[&'static str], scope: Scope) -> Self {
        LastActivity {
            name: name.into(),
            sources: sources.to_vec(),
            scope,
        }
    }
}

impl Reducer for LastActivity {
    type State = LastActivityState;
    fn name(&self) -> &str {
        &self.name
    }
    fn sources(&self) -> &[&str] {
        &self.sources
    }
    fn scope(&self) -> Scope {
        self.scope
    }
    fn reduce(&self, state: &mut LastActivityState, event: &Event<'_>) -> Outcome {
        let now = event.time.as_secs_f64();
        state.first_seen.get_or_insert(now);
        state.last_seen = Some(now);
        let kind = event.kind();
        if state.last_event != kind {
            state.last_event = kind.into_owned();
        }
        Outcome::changed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use classpulse_core::testing::ReducerHarness;
    use serde_json::json;

    #[test]
    fn remembers_the_latest() {
        let mut h = ReducerHarness::new(LastActivity::new("t.last", &["s"], Scope::student()));
        h.send(0, json!({"event": "a"}));
        h.send(5, json!({"event": "b"}));
        let state = h.state();
        assert_eq!(state.last_event, "b");
        assert_eq!(state.first_seen, Some(1_700_000_000.0));
        assert!(state.is_active(1_700_000_010.0, 60.0));
        assert!(!state.is_active(1_700_000_100.0, 60.0));
    }
}
