//! Counts events per key.

use classpulse_core::event::Event;
use classpulse_core::reducer::{Outcome, Reducer, Scope};
use serde::{Deserialize, Serialize};

/// `{"count": n}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCountState {
    /// Events seen.
    pub count: u64,
}

/// Counts every event of its sources.
#[derive(Debug, Clone)]
pub struct EventCount {
    name: String,
    sources: Vec<&'static str>,
    scope: Scope,
}

impl EventCount {
    /// A counter named `name` over `sources`, keyed by `scope`.
    pub fn new(name: impl Into<String>, sources: &[&'static str], scope: Scope) -> Self {
        EventCount {
            name: name.into(),
            sources: sources.to_vec(),
            scope,
        }
    }
}

impl Reducer for EventCount {
    type State = EventCountState;
    fn name(&self) -> &str {
        &self.name
    }
    fn sources(&self) -> &[&str] {
        &self.sources
    }
    fn scope(&self) -> Scope {
        self.scope
    }
    fn reduce(&self, state: &mut EventCountState, _event: &Event<'_>) -> Outcome {
        state.count += 1;
        Outcome::changed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use classpulse_core::testing::ReducerHarness;
    use serde_json::json;

    #[test]
    fn counts_per_student() {
        let mut h = ReducerHarness::new(EventCount::new("t.count", &["s"], Scope::student()));
        for t in 0..3 {
            assert!(
                h.as_student("ann")
                    .send(t, json!({"event": "x"}))
                    .is_changed()
            );
        }
        h.as_student("bo").send(3, json!({"event": "y"}));
        assert_eq!(h.student("ann").unwrap().count, 3);
        assert_eq!(h.student("bo").unwrap().count, 1);
    }
}
