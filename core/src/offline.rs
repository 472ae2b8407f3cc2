//! A data directory's state, rebuilt in memory from its log by the same reducers the server
//! runs — for tools that read without a server (`classpulse report`).
//!
//! [`replay`] registers the modules as the runtime does (plus the core's roster and timer
//! reducers), reads the log from the start and applies it with the router in replay mode, into
//! a memory store: the states are those a server started on the same log would hold. It only
//! reads the log: it neither cuts a torn tail (it skips it, as a reader does) nor appends roster
//! files; the caller decides whether to hold the data directory's lock meanwhile.

use crate::aggregator::{Aggregators, DuplicateAggregator};
use crate::event::{Event, Timestamp};
use crate::kvs::{KvsError, MemoryKvs};
use crate::log::{LogReader, ReadError};
use crate::module::{Module, ModuleBuilder};
use crate::pubsub::MemoryPubSub;
use crate::reducer::erase;
use crate::roster::{RosterIndex, RosterMode, RosterReducer};
use crate::router::{DuplicateReducer, Mode, Registry, Router};
use crate::telemetry::Stats;
use crate::timers::TimerTable;
use std::path::Path;
use std::sync::Arc;

/// Why a log could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// Two reducers share a name.
    #[error(transparent)]
    Registry(#[from] DuplicateReducer),
    /// Two aggregators share a name.
    #[error(transparent)]
    Aggregator(#[from] DuplicateAggregator),
    /// The log could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The memory store failed (it does not).
    #[error(transparent)]
    Kvs(#[from] KvsError),
}

/// The state a log rebuilds.
pub struct Replayed {
    /// The reducers, as the server registers them.
    pub registry: Arc<Registry>,
    /// Every state.
    pub kvs: Arc<MemoryKvs>,
    /// Every course's roster as of the end of the log.
    pub roster: Arc<RosterIndex>,
    /// The course views the modules registered.
    pub aggregators: Aggregators,
    /// Events applied.
    pub events: u64,
    /// Server time of the last event (`None`: an empty log).
    pub last_time: Option<Timestamp>,
    /// Lines skipped as not log lines (corruption, a torn tail being written).
    pub skipped_lines: usize,
}

/// Replays the log in `log_dir` through `modules`' reducers (roster mode `roster_mode`).
///
/// # Errors
/// When two reducers or views share a name, or the log cannot be read.
pub async fn replay(
    log_dir: &Path,
    modules: &[Arc<dyn Module>],
    roster_mode: RosterMode,
) -> Result<Replayed, OfflineError> {
    let mut builder = ModuleBuilder::default();
    for module in modules {
        builder.current_module = module.name().to_owned();
        module.register(&mut builder);
    }
    let timers = Arc::new(TimerTable::new());
    let mut reducers = builder.reducers;
    reducers.push(("core".to_owned(), timers.reducer()));
    reducers.push(("core".to_owned(), erase(RosterReducer)));
    let registry = Arc::new(Registry::new(reducers)?);
    let aggregators = Aggregators::new(builder.aggregators)?;
    let kvs = Arc::new(MemoryKvs::new());
    let roster = Arc::new(RosterIndex::new(roster_mode));
    let router = Router::new(
        registry.clone(),
        kvs.clone(),
        Arc::new(MemoryPubSub::new(16)),
        timers,
        Arc::new(Stats::default()),
    )
    .with_roster(roster.clone());
    let mut reader = LogReader::open(log_dir, 1)?;
    let (mut events, mut last_time) = (0u64, None);
    while let Some(batch) = reader.next_batch()? {
        let applied = router.apply(&batch, Mode::Replay).await?;
        events += applied.events as u64;
        if let Some((_, line)) = batch.iter().last()
            && let Ok(event) = Event::from_line(&line)
        {
            last_time = Some(event.time);
        }
    }
    Ok(Replayed {
        registry,
        kvs,
        roster,
        aggregators,
        events,
        last_time,
        skipped_lines: reader.skipped().len(),
    })
}
