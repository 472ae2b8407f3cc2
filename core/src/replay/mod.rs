//! Replaying logs into state: `classpulse replay`, and the library under it.
//!
//! The [`Engine`] hands batches to the same [`Router`] the server runs (in
//! [`Mode::Replay`]: no notifications, no change messages), so replay reduces exactly as the
//! live path does, a batch at a time. Each state records the log positions it reflects, so an
//! event a state already reflects is skipped: replaying a log twice changes nothing.
//! [`sources`] finds and reads the files — ClassPulse segments and Learning Observer's study
//! logs ([`learning_observer`]) — on a thread of its own.
//!
//! Filters select events: a time range, one student. Roster events always pass (membership is
//! not activity: without them course-scoped reducers would not know who belongs where). One
//! module is selected by giving the engine a registry of that module's reducers only.
//!
//! Batches are reduced on several cores when the store is in memory ([`parallel`]): by
//! student, with course-scoped work and rosters applied in log order between.

pub mod learning_observer;
pub mod merge;
pub mod parallel;
pub mod prepare;
pub mod sources;

use crate::event::{LogLine, Timestamp};
use crate::kvs::{KvsError, SharedKvs};
use crate::log::DurableBatch;
use crate::module::{Module, ModuleBuilder};
use crate::pubsub::MemoryPubSub;
use crate::reducer::{DynReducer, erase};
use crate::roster::{ROSTER_SOURCE, RosterIndex, RosterReducer};
use crate::router::{DuplicateReducer, Mode, Registry, Router};
use crate::telemetry::Stats;
use crate::timers::TimerTable;
use serde::Serialize;
use std::sync::Arc;

/// The reducers a node with these modules runs, as the runtime registers them: each module's,
/// then the core's (timer table, rosters). `only`: just that module's (and none of the
/// core's).
pub fn reducers(
    modules: &[Arc<dyn Module>],
    timers: &TimerTable,
    only: Option<&str>,
) -> Vec<(String, Arc<dyn DynReducer>)> {
    let mut builder = ModuleBuilder::default();
    for module in modules {
        builder.current_module = module.name().to_owned();
        module.register(&mut builder);
    }
    let mut reducers = builder.reducers;
    reducers.push(("core".to_owned(), timers.reducer()));
    reducers.push(("core".to_owned(), erase(RosterReducer)));
    if let Some(only) = only {
        reducers.retain(|(module, _)| module == only);
    }
    reducers
}

/// The registry of [`reducers`].
///
/// # Errors
/// When two reducers share a name.
pub fn registry(
    modules: &[Arc<dyn Module>],
    timers: &TimerTable,
    only: Option<&str>,
) -> Result<Registry, DuplicateReducer> {
    Registry::new(reducers(modules, timers, only))
}

/// Which events a replay applies.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only events at or after this server time.
    pub from: Option<Timestamp>,
    /// Only events at or before this server time.
    pub to: Option<Timestamp>,
    /// Only this student's events (safe user id).
    pub student: Option<String>,
}

impl Filter {
    /// Whether every event passes.
    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.student.is_none()
    }

    /// Whether `line` passes; `Err(())` when it fails only by being after `to`.
    fn admits(&self, line: &LogLine<'_>) -> Result<bool, ()> {
        if line.source == ROSTER_SOURCE {
            return Ok(true);
        }
        if self.from.is_some() || self.to.is_some() {
            let Ok(time) = line.timestamp() else {
                return Ok(true);
            };
            if self.from.is_some_and(|from| time < from) {
                return Ok(false);
            }
            if self.to.is_some_and(|to| time > to) {
                return Err(());
            }
        }
        Ok(self
            .student
            .as_deref()
            .is_none_or(|s| line.auth.safe_user_id == s))
    }
}

/// What a replay did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Log lines read.
    pub lines: u64,
    /// Lines the filters left out.
    pub filtered_out: u64,
    /// Events handed to the reducers.
    pub events: u64,
    /// (event, reducer) applications run.
    pub applications: u64,
    /// Applications skipped because the state already reflected the event.
    pub already_applied: u64,
    /// Reducer panics and errors.
    pub reducer_failures: u64,
    /// Lines with a sequence number that did not parse as events.
    pub corrupt_lines: u64,
}

/// Applies batches through the router.
pub struct Engine {
    router: Router,
    filter: Filter,
    own_through: u64,
    own_frozen: bool,
    parallel: parallel::Parallel,
    /// Running totals.
    pub totals: Totals,
}

impl Engine {
    /// An engine applying to `kvs`, keeping `roster` and `timers` up to date as the server
    /// does.
    pub fn new(
        registry: Arc<Registry>,
        kvs: SharedKvs,
        roster: Arc<RosterIndex>,
        timers: Arc<TimerTable>,
        filter: Filter,
    ) -> Self {
        let router = Router::new(
            registry,
            kvs,
            Arc::new(MemoryPubSub::new(16)),
            timers,
            Arc::new(Stats::default()),
        )
        .with_roster(roster);
        Engine {
            router,
            filter,
            own_through: 0,
            own_frozen: false,
            parallel: parallel::Parallel::new(parallel::default_lanes()),
            totals: Totals::default(),
        }
    }

    /// Reduces over `lanes` lanes (1: serially) instead of [`parallel::default_lanes`].
    pub fn with_lanes(mut self, lanes: usize) -> Self {
        self.parallel = parallel::Parallel::new(lanes);
        self
    }

    /// The highest sequence number of the node's own log through which every event was
    /// either applied or left out on purpose (events after `--to` are not: they are the
    /// server's to apply).
    pub fn own_through(&self) -> u64 {
        self.own_through
    }

    /// Applies one batch (`own`: it comes from the node's own log).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn apply(&mut self, batch: DurableBatch, own: bool) -> Result<(), KvsError> {
        self.totals.lines += batch.len() as u64;
        let batch = if self.filter.is_empty() {
            if own && let Some(last) = batch.lines.last() {
                self.own_through = self.own_through.max(last.seq);
            }
            batch
        } else {
            let mut kept = Vec::with_capacity(batch.len());
            for line in &batch.lines {
                let admitted = match LogLine::parse(batch.text(line.range)) {
                    // The router reports lines that do not parse.
                    Err(_) => Ok(true),
                    Ok(parsed) => self.filter.admits(&parsed),
                };
                if own && admitted.is_err() {
                    self.own_frozen = true;
                }
                if own && !self.own_frozen {
                    self.own_through = self.own_through.max(line.seq);
                }
                if admitted == Ok(true) {
                    kept.push(line.clone());
                } else {
                    self.totals.filtered_out += 1;
                }
            }
            DurableBatch {
                buf: batch.buf,
                lines: kept,
            }
        };
        if batch.is_empty() {
            return Ok(());
        }
        let applied = self
            .parallel
            .apply(&self.router, batch, Mode::Replay)
            .await?;
        self.totals.events += applied.events as u64;
        self.totals.applications += applied.applications as u64;
        self.totals.already_applied += applied.skipped as u64;
        self.totals.reducer_failures += applied.failures as u64;
        self.totals.corrupt_lines += applied.corrupt_lines as u64;
        Ok(())
    }
}

/// Why the current state could not be built offline.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The log could not be read.
    #[error(transparent)]
    Read(#[from] crate::log::ReadError),
    /// The log's last segment could not be checked.
    #[error("cannot read the event log in {0}: {1}")]
    Io(std::path::PathBuf, std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Kvs(#[from] KvsError),
}

/// The state a server on `config`'s data directory would start with — the newest usable
/// snapshot, then the log after it — built here, for tools holding the data directory's lock.
/// Returns the sequence number of the node's log it is current through.
///
/// # Errors
/// When the log cannot be read.
pub async fn load_current(
    config: &crate::config::Config,
    registry: Arc<Registry>,
    kvs: Arc<crate::kvs::MemoryKvs>,
    roster: Arc<RosterIndex>,
    timers: Arc<TimerTable>,
) -> Result<(u64, Option<crate::snapshot::Restored>), LoadError> {
    let log_dir = crate::runtime::log_dir(config);
    let segments =
        crate::log::segment::list(&log_dir).map_err(|e| LoadError::Io(log_dir.clone(), e))?;
    let first_seq = segments.first().map_or(1, |s| s.first_seq);
    let last_seq = match segments.last() {
        Some(last) => {
            let recovered = crate::log::segment::recover_tail(&last.path)
                .map_err(|e| LoadError::Io(log_dir.clone(), e))?;
            if recovered.last_seq == 0 {
                last.first_seq.saturating_sub(1)
            } else {
                recovered.last_seq
            }
        }
        None => 0,
    };
    let restored = crate::snapshot::restore_latest(
        &config.server.data_dir,
        &registry,
        crate::snapshot::LogExtent {
            first_seq,
            last_seq,
        },
        &kvs,
        &roster,
    );
    let from = restored.as_ref().map_or(1, |r| r.replay_from);
    let mut engine = Engine::new(registry, kvs, roster, timers, Filter::default());
    let mut reader = crate::log::LogReader::open(&log_dir, from)?;
    while let Some(batch) = reader.next_batch()? {
        engine.apply(batch, true).await?;
    }
    let through = engine
        .own_through()
        .max(restored.as_ref().map_or(0, |r| r.through_seq))
        .max(last_seq);
    Ok((through, restored))
}
