//! Time on task, Learning Observer's rule: the sum of the gaps between consecutive events,
//! each gap capped at a threshold (a pause longer than that counts as the threshold), on
//! server time.

use classpulse_core::event::Event;
use classpulse_core::reducer::{Outcome, Reducer, Scope};
use serde::{Deserialize, Serialize};

/// `{"saved_ts": seconds|null, "total_time_on_task": seconds}`, Learning Observer's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeOnTaskState {
    /// Server time of the last event, in seconds.
    pub saved_ts: Option<f64>,
    /// Seconds on task so far.
    pub total_time_on_task: f64,
}

impl TimeOnTaskState {
    /// Applies an event at `now` (seconds) with gaps capped at `threshold` seconds.
    pub fn apply(&mut self, now: f64, threshold: f64) {
        let last = self.saved_ts.unwrap_or(now);
        self.saved_ts = Some(now);
        self.total_time_on_task += threshold.min(now - last);
    }
}

/// Time on task per key.
#[derive(Debug, Clone)]
pub struct TimeOnTask {
    name: String,
    sources: Vec<&'static str>,
    scope: Scope,
    threshold_secs: f64,
}

impl TimeOnTask {
    /// A reducer named `name` over `sources`, keyed by `scope`, capping gaps at
    /// `threshold_secs` (Learning Observer's default: 60).
    pub fn new(
        name: impl Into<String>,
        sources: &[&'static str],
        scope: Scope,
        threshold_secs: f64,
    ) -> Self {
        TimeOnTask {
            name: name.into(),
            sources: sources.to_vec(),
            scope,
            threshold_secs,
        }
    }
}

impl Reducer for TimeOnTask {
    type State = TimeOnTaskState;
    fn name(&self) -> &str {
        &self.name
    }
    fn sources(&self) -> &[&str] {
        &self.sources
    }
    fn scope(&self) -> Scope {
        self.scope
    }
    fn reduce(&self, state: &mut TimeOnTaskState, event: &Event<'_>) -> Outcome {
        state.apply(event.time.as_secs_f64(), self.threshold_secs);
        Outcome::changed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use classpulse_core::testing::ReducerHarness;
    use serde_json::json;

    #[test]
    fn gaps_are_summed_and_capped() {
        let mut h = ReducerHarness::new(TimeOnTask::new("t.tot", &["s"], Scope::student(), 60.0));
        // Events at 0 s, 10 s, 100 s (a 90 s pause counts 60), 130 s.
        for t in [0, 10, 100, 130] {
            h.send(t, json!({"event": "x"}));
        }
        assert_eq!(h.state().total_time_on_task, 10.0 + 60.0 + 30.0);
        assert_eq!(h.state().saved_ts, Some(1_700_000_130.0));
    }
}
