//! The numbers a course's charts are drawn from, read from reducer states — the same states
//! the live dashboard reads, whether they are the running server's or a replay of a log.
//!
//! Per student: time on task (`activity.time_on_task`, every source) and words written (the
//! words of every document `writing.reconstruct` holds for them, counted as the dashboard
//! counts them). For the course: writing time per period (`writing.binned_time_on_task`,
//! summed over the course's students and documents) and, when the course has an office-hours
//! queue, its figures ([`super::office_hours`]).

use super::office_hours::{self, OfficeHoursFigures};
use classpulse_core::aggregator::StateReader;
use classpulse_core::event::Timestamp;
use classpulse_core::kvs::{Kvs, KvsError};
use classpulse_core::reducer::ScopeKey;
use classpulse_core::roster::CourseRoster;
use classpulse_core::router::Registry;
use classpulse_reducers::TimeOnTaskState;
use classpulse_writing::activity::binned_time_on_task::BinnedTimeOnTask;
use classpulse_writing::reconstruct::Document;
use classpulse_writing::reducers::{BinnedTimeOnTaskReducer, ReconstructReducer};
use serde::Serialize;
use std::collections::BTreeMap;

/// The reducer whose per-student state gives time on task (every source).
pub const TIME_ON_TASK: &str = "activity.time_on_task";

/// Display periods for activity over time, in seconds: the smallest that fits the span in
/// [`MAX_PERIODS`] bars is used.
const PERIODS: &[i64] = &[
    600,
    1800,
    3600,
    2 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    7 * 86_400,
    28 * 86_400,
];
/// Most bars in the activity chart.
pub const MAX_PERIODS: usize = 48;

/// One student's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StudentFigures {
    /// Safe user id.
    pub id: String,
    /// Display name (the id when the roster has none).
    pub name: String,
    /// Seconds on task, every source.
    pub time_on_task_secs: f64,
    /// Words in all their documents.
    pub words: u64,
}

/// Writing time per period of server time.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Activity {
    /// Length of a period, in seconds.
    pub period_secs: i64,
    /// `(period start, seconds on task in it)`, every period from the first to the last with
    /// activity (empty ones included, with 0), oldest first.
    pub periods: Vec<(i64, f64)>,
}

/// Everything a course's charts show.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CourseFigures {
    /// Course id.
    pub course_id: String,
    /// Course name.
    pub course_name: String,
    /// When the figures were read (server time).
    pub as_of: Timestamp,
    /// The course's students, by name.
    pub students: Vec<StudentFigures>,
    /// Writing time over time.
    pub activity: Activity,
    /// The office-hours queue's figures, when the course has one.
    pub office_hours: Option<OfficeHoursFigures>,
}

impl CourseFigures {
    /// Reads the figures of `course` from `kvs`, finding reducers in `registry`; `bin_secs` is
    /// the writing module's bin size (`binned_time_on_task_bin_secs`).
    ///
    /// # Errors
    /// When the state store fails.
    pub async fn gather(
        course: &CourseRoster,
        kvs: &dyn Kvs,
        registry: &Registry,
        now: Timestamp,
        bin_secs: u32,
    ) -> Result<CourseFigures, KvsError> {
        let states = StateReader::new(kvs, registry);
        let mut students = Vec::new();
        let mut binned: BTreeMap<i64, f64> = BTreeMap::new();
        for (id, member) in course.students() {
            let key = ScopeKey::student(id);
            let time_on_task = states
                .with(TIME_ON_TASK, &key, |t: Option<&TimeOnTaskState>| {
                    t.map_or(0.0, |t| t.total_time_on_task)
                })
                .await?;
            let mut words = 0u64;
            for state_key in kvs.keys_of(key.subject()).await? {
                if &*state_key.reducer == ReconstructReducer::NAME {
                    words += states
                        .with(
                            ReconstructReducer::NAME,
                            &state_key.scope,
                            |d: Option<&Document>| {
                                d.map_or(0, |d| {
                                    classpulse_writing::summary::student_summary::counts(d).0
                                })
                            },
                        )
                        .await? as u64;
                } else if &*state_key.reducer == BinnedTimeOnTaskReducer::NAME {
                    states
                        .with(
                            BinnedTimeOnTaskReducer::NAME,
                            &state_key.scope,
                            |b: Option<&BinnedTimeOnTask>| {
                                for (start, secs) in
                                    b.map(|b| &b.binned_time_on_task.0).into_iter().flatten()
                                {
                                    *binned.entry(*start).or_default() += secs;
                                }
                            },
                        )
                        .await?;
                }
            }
            let name = if member.name.is_empty() {
                id.to_owned()
            } else {
                member.name.clone()
            };
            students.push(StudentFigures {
                id: id.to_owned(),
                name,
                time_on_task_secs: time_on_task,
                words,
            });
        }
        students.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let office_hours = states
            .json(office_hours::QUEUE_REDUCER, &ScopeKey::course(&course.id))
            .await?
            .and_then(|state| office_hours::figures(&state));
        Ok(CourseFigures {
            course_id: course.id.clone(),
            course_name: if course.name.is_empty() {
                course.id.clone()
            } else {
                course.name.clone()
            },
            as_of: now,
            students,
            activity: Activity::from_bins(&binned, i64::from(bin_secs)),
            office_hours,
        })
    }
}

impl Activity {
    /// Groups bins (`start → seconds`, starts multiples of `base` seconds) into display
    /// periods: the shortest of [`PERIODS`] no shorter than `base` that shows the whole span in
    /// at most [`MAX_PERIODS`] bars.
    pub fn from_bins(bins: &BTreeMap<i64, f64>, base: i64) -> Activity {
        let (Some((&first, _)), Some((&last, _))) = (bins.first_key_value(), bins.last_key_value())
        else {
            return Activity::default();
        };
        let base = base.max(1);
        let span = last - first + base;
        let period = PERIODS
            .iter()
            .copied()
            .find(|p| *p >= base && span.div_euclid(*p) < MAX_PERIODS as i64)
            .unwrap_or(PERIODS[PERIODS.len() - 1]);
        let start_of = |t: i64| t.div_euclid(period) * period;
        let (from, to) = (start_of(first), start_of(last));
        let count = ((to - from) / period + 1) as usize;
        let mut periods: Vec<(i64, f64)> = (0..count)
            .map(|i| (from + i as i64 * period, 0.0))
            .collect();
        for (start, secs) in bins {
            let i = ((start_of(*start) - from) / period) as usize;
            periods[i].1 += secs;
        }
        Activity {
            period_secs: period,
            periods,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_group_into_periods_with_the_gaps_shown() {
        // Ten-minute bins over three hours: 19 bins of span, at most 48 bars: ten minutes.
        let bins = BTreeMap::from([(600, 60.0), (1200, 30.0), (600 + 3 * 3600, 5.0)]);
        let a = Activity::from_bins(&bins, 600);
        assert_eq!(a.period_secs, 600);
        assert_eq!(a.periods.len(), 19);
        assert_eq!(a.periods[0], (600, 60.0));
        assert_eq!(a.periods[18], (600 + 3 * 3600, 5.0));
        // Over three days: two-hour periods.
        let bins = BTreeMap::from([(0, 60.0), (600, 30.0), (3 * 86_400, 5.0)]);
        let a = Activity::from_bins(&bins, 600);
        assert_eq!(a.period_secs, 2 * 3600);
        assert_eq!(a.periods[0], (0, 90.0));
        assert_eq!(a.periods.len(), 37);
        assert!(
            Activity::from_bins(&BTreeMap::new(), 600)
                .periods
                .is_empty()
        );
    }
}
