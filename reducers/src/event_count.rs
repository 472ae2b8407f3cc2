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
    use crate::test_events::with_event;

    #[test]
    fn counts() {
        let r = EventCount::new("t.count", &["s"], Scope::student());
        let mut state = EventCountState::default();
        for i in 0..3 {
            with_event(i, r#"{"event":"x"}"#, |e| {
                assert!(r.reduce(&mut state, e).is_changed())
            });
        }
        assert_eq!(state.count, 3);
    }
}
