//! The router: runs reducers over committed batches, in log order.
//!
//! For each event of a batch it looks up the reducers registered for the event's source,
//! derives each one's key from its scope, and groups the work by key; the KVS then applies
//! each key's events in order, skipping those the stored state already reflects (its
//! [`Applied`](crate::kvs::Applied) positions) — so live application and replay are the same
//! code and nothing is applied twice. After the store, changed keys are published on pub/sub
//! and effects are carried out: notifications are sent (live only, never on replay) and timers
//! are recorded in the durable timer table.

mod registry;

pub use registry::{ANY_SOURCE, DuplicateReducer, RegisteredReducer, Registry};

use crate::event::{Event, LogPosition};
use crate::kvs::{Kvs, KvsError, Slot, StateKey, UpdateBatch};
use crate::log::DurableBatch;
use crate::pubsub::{NOTIFICATIONS, PubSub, STATE_CHANGES};
use crate::reducer::{DynReducer, Effect, Outcome, Scope, ScopeKey, Subject};
use crate::roster::RosterIndex;
use crate::telemetry::Stats;
use crate::timers::{TimerOp, TimerTable};
use bytes::Bytes;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Whether a batch is applied live or replayed at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Events just committed: publish changes, send notifications.
    Live,
    /// Rebuilding state from the log: no notifications, no change messages.
    Replay,
}

/// What applying one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Events in the batch (readable lines).
    pub events: usize,
    /// (event, reducer) applications run.
    pub applications: usize,
    /// Applications skipped because the state already reflected the event.
    pub skipped: usize,
    /// Keys whose state changed.
    pub changed_keys: usize,
    /// Reducer panics and errors.
    pub failures: usize,
    /// Lines that did not parse.
    pub corrupt_lines: usize,
}

/// Routes committed events to reducers and stores the results.
pub struct Router {
    registry: Arc<Registry>,
    kvs: Arc<dyn Kvs>,
    pubsub: Arc<dyn PubSub>,
    timers: Arc<TimerTable>,
    stats: Arc<Stats>,
    roster: Arc<RosterIndex>,
}

impl Router {
    /// A router over the given reducers and backends.
    pub fn new(
        registry: Arc<Registry>,
        kvs: Arc<dyn Kvs>,
        pubsub: Arc<dyn PubSub>,
        timers: Arc<TimerTable>,
        stats: Arc<Stats>,
    ) -> Self {
        Router {
            registry,
            kvs,
            pubsub,
            timers,
            stats,
            roster: Arc::default(),
        }
    }

    /// Uses `roster` to authorize course-scoped reducers (it is updated as roster events are
    /// applied, in log order).
    pub fn with_roster(mut self, roster: Arc<RosterIndex>) -> Self {
        self.roster = roster;
        self
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Applies one committed batch.
    ///
    /// # Errors
    /// When the KVS fails; the batch may be applied again later (already-applied events are
    /// skipped).
    pub async fn apply(&self, batch: &DurableBatch, mode: Mode) -> Result<Applied, KvsError> {
        let mut report = Applied::default();
        let mut events: Vec<Event<'_>> = Vec::with_capacity(batch.len());
        for line in &batch.lines {
            // Live lines come with what ingest knew; lines read back from disk are parsed.
            let prepared = match (&line.prepared, line.time) {
                (Some(p), Some(time)) => {
                    p.event(batch.text((line.body_start, line.range.1)), line.seq, time)
                }
                _ => None,
            };
            match prepared.map_or_else(|| Event::from_line(batch.text(line.range)), Ok) {
                Ok(event) => events.push(event),
                Err(e) => {
                    report.corrupt_lines += 1;
                    tracing::warn!(seq = line.seq, error = %e, "skipping a corrupt log line");
                }
            }
        }
        report.events = events.len();

        let mut work = Work {
            keys: Vec::new(),
            pending: Vec::new(),
            results: Vec::new(),
            events: &events,
        };
        let mut index: HashMap<(usize, ScopeKey), usize, foldhash::fast::RandomState> =
            HashMap::default();
        // Each distinct scope's key is derived once per event, however many reducers share it.
        let mut scope_keys: Vec<(Scope, Option<ScopeKey>)> = Vec::with_capacity(4);
        for (event_index, event) in events.iter().enumerate() {
            scope_keys.clear();
            // Roster changes take effect from the next event on, in log order.
            self.roster.observe(event);
            let mut course_access: Option<bool> = None;
            for reducer in self.registry.for_source(&event.source) {
                if reducer.scope.subject() == Subject::Course
                    && !*course_access.get_or_insert_with(|| self.roster.authorize_event(event))
                {
                    continue;
                }
                let key = match scope_keys.iter().find(|(s, _)| *s == reducer.scope) {
                    Some((_, key)) => key.clone(),
                    None => {
                        let key = reducer.scope.key_for(event);
                        scope_keys.push((reducer.scope, key.clone()));
                        key
                    }
                };
                let Some(scope) = key else { continue };
                let slot = *index
                    .entry((reducer.index, scope))
                    .or_insert_with_key(|(_, scope)| {
                        work.keys.push((
                            StateKey {
                                reducer: reducer.name.clone(),
                                scope: scope.clone(),
                            },
                            reducer.reducer.clone(),
                        ));
                        work.pending.push(Vec::new());
                        work.results.push(KeyResult::default());
                        work.keys.len() - 1
                    });
                work.pending[slot].push(event_index);
            }
        }
        if !work.keys.is_empty() {
            self.kvs.update(&mut work).await?;
        }

        let mut changes = Vec::new();
        let mut timer_ops: Vec<(LogPosition<'_>, TimerOp)> = Vec::new();
        for (i, result) in work.results.iter_mut().enumerate() {
            report.applications += result.applied;
            report.skipped += result.skipped;
            report.failures += result.failures;
            if result.changed {
                report.changed_keys += 1;
                changes.push(i);
            }
            for (event_index, effect) in result.effects.drain(..) {
                let event = &events[event_index];
                match effect {
                    Effect::Notify { to, message } => {
                        if mode == Mode::Live {
                            self.notify(to, message).await;
                        }
                    }
                    Effect::Timer(request) => timer_ops.push((
                        event.position,
                        TimerOp::Arm {
                            request,
                            auth: event.auth.clone().into_owned(),
                        },
                    )),
                    Effect::CancelTimer { id } => {
                        timer_ops.push((event.position, TimerOp::Cancel { id }))
                    }
                }
            }
        }
        for event in &events {
            if let Some(id) = &event.timer {
                timer_ops.push((event.position, TimerOp::Fired { id: id.to_string() }));
            }
        }
        if !timer_ops.is_empty() {
            timer_ops.sort_by_key(|(pos, _)| *pos);
            self.timers.apply(&*self.kvs, timer_ops).await?;
        }
        self.stats.add_reducer_failures(report.failures as u64);
        if mode == Mode::Live && !changes.is_empty() {
            self.publish_changes(&work, &changes).await;
        }
        if mode == Mode::Live
            && let Some(last) = batch.lines.last()
        {
            self.stats.note_applied(last.seq);
        }
        Ok(report)
    }

    async fn publish_changes(&self, work: &Work<'_, '_>, changed: &[usize]) {
        let mut out = Vec::with_capacity(changed.len() * 96);
        out.push(b'[');
        for (n, &i) in changed.iter().enumerate() {
            let key = &work.keys[i].0;
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"module\":");
            crate::event::write_json_string(&mut out, self.registry.module_of(&key.reducer));
            out.extend_from_slice(b",\"reducer\":");
            crate::event::write_json_string(&mut out, &key.reducer);
            out.extend_from_slice(b",\"key\":");
            crate::event::write_json_string(&mut out, key.scope.as_str());
            out.push(b'}');
        }
        out.push(b']');
        if let Err(e) = self.pubsub.publish(STATE_CHANGES, Bytes::from(out)).await {
            tracing::warn!(error = %e, "could not publish state changes");
        }
    }

    async fn notify(&self, to: crate::reducer::Recipient, message: serde_json::Value) {
        let payload = serde_json::json!({ "to": to, "message": message });
        match serde_json::to_vec(&payload) {
            Ok(bytes) => {
                if let Err(e) = self.pubsub.publish(NOTIFICATIONS, Bytes::from(bytes)).await {
                    tracing::warn!(error = %e, "could not publish a notification");
                }
            }
            Err(e) => tracing::warn!(error = %e, "notification does not serialize"),
        }
    }
}

#[derive(Default)]
struct KeyResult {
    changed: bool,
    applied: usize,
    skipped: usize,
    failures: usize,
    effects: Vec<(usize, Effect)>,
}

/// One batch's work, grouped by key, handed to the KVS.
struct Work<'e, 'a> {
    keys: Vec<(StateKey, Arc<dyn DynReducer>)>,
    pending: Vec<Vec<usize>>,
    results: Vec<KeyResult>,
    events: &'e [Event<'a>],
}

impl UpdateBatch for Work<'_, '_> {
    fn keys(&self) -> &[(StateKey, Arc<dyn DynReducer>)] {
        &self.keys
    }

    fn apply(&mut self, index: usize, slot: &mut Slot) -> bool {
        let reducer = &self.keys[index].1;
        // A retry (lost compare-and-set) starts over from the fresher slot.
        let result = &mut self.results[index];
        *result = KeyResult::default();
        for &event_index in &self.pending[index] {
            let event = &self.events[event_index];
            if slot.applied.covers(event.position) {
                result.skipped += 1;
                continue;
            }
            result.applied += 1;
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                reducer.reduce(&mut *slot.state, event)
            }))
            .unwrap_or_else(|panic| {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                Outcome::error(format!("panicked: {reason}"))
            });
            slot.applied.advance(event.position);
            let (changed, effects, error) = outcome.into_parts();
            if let Some(reason) = error {
                result.failures += 1;
                tracing::warn!(reducer = reducer.name(), seq = event.position.seq,
                    key = %self.keys[index].0.scope, %reason, "reducer failed on an event");
                // Whatever the reducer did to the state stands: replay would do the same.
                result.changed = true;
            }
            result.changed |= changed;
            result
                .effects
                .extend(effects.into_iter().map(|e| (event_index, e)));
        }
        result.changed
    }
}
