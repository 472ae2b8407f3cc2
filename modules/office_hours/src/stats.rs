//! Office-hours statistics from the log, without a running server: waits, session lengths,
//! sessions per TA, no-shows — for `classpulse report`.
//!
//! The log is folded through the same reducer the server runs, with the roster index
//! authorizing each event as the router does (in log order), so the figures are exactly those
//! the live queue kept.

use crate::config::OfficeHoursConfig;
use crate::reducer::{QueueReducer, SOURCE};
use crate::state::{CourseStats, QueueState};
use classpulse_core::event::Event;
use classpulse_core::log::{LogReader, ReadError};
use classpulse_core::reducer::Reducer;
use classpulse_core::roster::{ROSTER_SOURCE, RosterIndex};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One course's figures, derived from its [`CourseStats`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CourseReport {
    /// The raw counters.
    pub stats: CourseStats,
    /// Mean wait from joining to accepting, in seconds (`None` before any session).
    pub mean_wait_secs: Option<f64>,
    /// Mean session length, in seconds (`None` before any ended).
    pub mean_session_secs: Option<f64>,
    /// Share of offers that expired.
    pub no_show_rate: Option<f64>,
}

impl CourseReport {
    /// The figures of `stats`.
    pub fn new(stats: CourseStats) -> Self {
        let ratio = |a: i64, n: u64| (n > 0).then(|| a as f64 / n as f64 / 1e6);
        CourseReport {
            mean_wait_secs: ratio(stats.total_wait_us, stats.accepted),
            mean_session_secs: ratio(stats.total_session_us, stats.sessions_ended),
            no_show_rate: (stats.offers > 0).then(|| stats.no_shows as f64 / stats.offers as f64),
            stats,
        }
    }
}

/// Every course's queue, rebuilt by folding the log in `dir` through the office-hours reducer.
///
/// # Errors
/// When the log cannot be read.
pub fn queues_from_log(
    dir: &Path,
    config: &OfficeHoursConfig,
) -> Result<BTreeMap<String, QueueState>, ReadError> {
    let reducer = QueueReducer::new(Arc::new(config.clone()));
    let index = RosterIndex::default();
    let mut queues: BTreeMap<String, QueueState> = BTreeMap::new();
    if !dir.exists() {
        return Ok(queues);
    }
    let mut reader = LogReader::open(dir, 1)?;
    while let Some(batch) = reader.next_batch()? {
        for (_, line) in batch.iter() {
            let Ok(event) = Event::from_line(&line) else {
                continue;
            };
            index.observe(&event);
            if event.source() != SOURCE && event.source() != ROSTER_SOURCE {
                continue;
            }
            let Some(course) = event.str_field("course_id") else {
                continue;
            };
            if !index.authorize_event(&event) {
                continue;
            }
            let state = queues.entry(course.into_owned()).or_default();
            let _ = reducer.reduce(state, &event);
        }
    }
    queues.retain(|_, q| !q.course_id.is_empty());
    Ok(queues)
}

/// Every course's office-hours figures, from the log in `dir`.
///
/// # Errors
/// When the log cannot be read.
pub fn report_from_log(
    dir: &Path,
    config: &OfficeHoursConfig,
) -> Result<BTreeMap<String, CourseReport>, ReadError> {
    Ok(queues_from_log(dir, config)?
        .into_iter()
        .map(|(course, q)| (course, CourseReport::new(q.stats)))
        .collect())
}
