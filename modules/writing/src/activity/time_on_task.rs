//! Total time on task (Learning Observer's `time_on_task`, per student and document, and per
//! student, document and tab).
//!
//! Each event adds the time since the previous event, capped at a threshold (60 s by
//! default): a student who walks away for an hour is counted one minute. Times are server
//! times in seconds; the arithmetic is Learning Observer's, in the same order, so totals agree
//! to the last bit.

use serde::{Deserialize, Serialize};

/// `{"saved_ts": last event time, "total_time_on_task": seconds}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeOnTask {
    /// Server time (seconds) of the latest event; `null` before the first.
    #[serde(default)]
    pub saved_ts: Option<f64>,
    /// Seconds on task so far.
    #[serde(default)]
    pub total_time_on_task: f64,
}

impl TimeOnTask {
    /// Records an event at `now` (seconds). A gap longer than `threshold` counts as
    /// `threshold`; like Learning Observer, a negative gap (clock going back) is added as is.
    pub fn record(&mut self, now: f64, threshold: f64) {
        let last = self.saved_ts.unwrap_or(now);
        self.saved_ts = Some(now);
        self.total_time_on_task += capped(now - last, threshold);
    }
}

/// Python's `min(threshold, delta)`.
pub(crate) fn capped(delta: f64, threshold: f64) -> f64 {
    if delta < threshold { delta } else { threshold }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_long_pauses() {
        let mut t = TimeOnTask::default();
        t.record(1000.0, 60.0);
        assert_eq!(t.total_time_on_task, 0.0);
        t.record(1010.5, 60.0);
        t.record(1020.0, 60.0);
        assert_eq!(t.total_time_on_task, 20.0);
        t.record(5000.0, 60.0);
        assert_eq!(t.total_time_on_task, 80.0);
        assert_eq!(t.saved_ts, Some(5000.0));
        // A configurable threshold.
        t.record(5100.0, 300.0);
        assert_eq!(t.total_time_on_task, 180.0);
    }

    #[test]
    fn json_shape() {
        let mut t = TimeOnTask::default();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"saved_ts":null,"total_time_on_task":0.0}"#
        );
        t.record(1.5, 60.0);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"saved_ts":1.5,"total_time_on_task":0.0}"#
        );
    }
}
