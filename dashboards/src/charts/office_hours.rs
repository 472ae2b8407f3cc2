//! The one place that knows the office-hours module's state shape, for its two charts (wait
//! times, sessions per TA).
//!
//! The figures come from the course state of the office-hours reducer (`office_hours.queue`
//! at `course:<id>`), which folds the log's `org.classpulse.office_hours` events — `join`,
//! `call_next`, `offer_accepted`, `offer_expired`, `session_ended`, … — into running
//! statistics (`stats`: waits from joining to accepting, sessions started per TA, no-shows).
//! Reading that state, rather than the events, keeps the queue's rules (who was called, which
//! accept came too late) in the reducer alone. Should the names change, this file is what to
//! adjust: [`QUEUE_REDUCER`] and [`figures`].

use serde::Serialize;
use serde_json::Value;

/// The office-hours reducer, whose course state holds the statistics.
pub const QUEUE_REDUCER: &str = "office_hours.queue";

/// A course's office-hours figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfficeHoursFigures {
    /// Students who joined the line.
    pub joins: u64,
    /// Sessions started (offers accepted).
    pub sessions: u64,
    /// Offers that expired.
    pub no_shows: u64,
    /// Mean wait from joining to a session, in seconds (`None` before any session).
    pub mean_wait_secs: Option<f64>,
    /// Longest such wait, in seconds.
    pub max_wait_secs: f64,
    /// Sessions started, per TA.
    pub sessions_per_ta: Vec<(String, u64)>,
}

/// Reads the figures from the queue's state (its JSON form); `None` when it is not a queue
/// state or nothing ever happened in it.
pub fn figures(state: &Value) -> Option<OfficeHoursFigures> {
    let stats = state.get("stats")?.as_object()?;
    let count = |name: &str| stats.get(name).and_then(Value::as_u64).unwrap_or(0);
    let micros = |name: &str| stats.get(name).and_then(Value::as_f64).unwrap_or(0.0);
    let sessions = count("accepted");
    let figures = OfficeHoursFigures {
        joins: count("joins"),
        sessions,
        no_shows: count("no_shows"),
        mean_wait_secs: (sessions > 0).then(|| micros("total_wait_us") / 1e6 / sessions as f64),
        max_wait_secs: micros("max_wait_us") / 1e6,
        sessions_per_ta: stats
            .get("sessions_per_ta")
            .and_then(Value::as_object)
            .map(|per_ta| {
                per_ta
                    .iter()
                    .filter_map(|(ta, n)| Some((ta.clone(), n.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default(),
    };
    (figures.joins > 0 || figures.sessions > 0).then_some(figures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statistics_become_figures() {
        // The shape the office-hours reducer keeps (`QueueState.stats`, `CourseStats`).
        let state = json!({
            "course_id": "C1", "on_duty": {}, "line": [],
            "stats": {
                "joins": 5, "cancels": 1, "offers": 4, "accepted": 3, "no_shows": 1,
                "sessions_ended": 2, "total_wait_us": 540_000_000i64, "max_wait_us": 300_000_000i64,
                "total_session_us": 0, "max_session_us": 0,
                "sessions_per_ta": {"ta.grace": 2, "ta.alan": 1}
            }
        });
        let f = figures(&state).unwrap();
        assert_eq!((f.joins, f.sessions, f.no_shows), (5, 3, 1));
        assert_eq!(f.mean_wait_secs, Some(180.0));
        assert_eq!(f.max_wait_secs, 300.0);
        assert_eq!(
            f.sessions_per_ta,
            vec![("ta.alan".to_owned(), 1), ("ta.grace".to_owned(), 2)]
        );
        assert_eq!(figures(&json!({"stats": {"joins": 0}})), None);
        assert_eq!(figures(&json!({"count": 3})), None);
    }
}
