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

impl std::ops::AddAssign for Applied {
    /// Adds a part's counts (a batch applied in parts, as parallel replay does).
    fn add_assign(&mut self, part: Applied) {
        self.events += part.events;
        self.applications += part.applications;
        self.skipped += part.skipped;
        self.changed_keys += part.changed_keys;
        self.failures += part.failures;
        self.corrupt_lines += part.corrupt_lines;
    }
}

/// Routes committed events to reducers and stores the results.
pub struct Router {
    registry: Arc<Registry>,
    kvs: Arc<dyn Kvs>,
    pubsub: Arc<dyn PubSub>,
    timers: Arc<TimerTable>,
    stats: Arc<Stats>,
    roster: Arc<RosterIndex>,
    /// Lines of a batch applied at a time, with a store in memory ([`apply_chunk`]).
    chunk: usize,
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
            chunk: apply_chunk(),
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

    /// The state store.
    pub fn kvs(&self) -> &Arc<dyn Kvs> {
        &self.kvs
    }

    /// Applies one committed batch.
    ///
    /// # Errors
    /// When the KVS fails; the batch may be applied again later (already-applied events are
    /// skipped).
    pub async fn apply(&self, batch: &DurableBatch, mode: Mode) -> Result<Applied, KvsError> {
        self.apply_batch(batch, mode, None).await
    }

    /// Applies one batch like [`Router::apply`], but hands the timer operations its events
    /// cause to `deferred` instead of applying them: parallel replay
    /// ([`crate::replay::parallel`]) applies several lanes' operations afterwards, merged in
    /// log order, so the timer table sees them as a serial replay would.
    ///
    /// # Errors
    /// As [`Router::apply`].
    pub async fn apply_deferring_timers(
        &self,
        batch: &DurableBatch,
        mode: Mode,
        deferred: &mut Vec<DeferredTimerOp>,
    ) -> Result<Applied, KvsError> {
        self.apply_batch(batch, mode, Some(deferred)).await
    }

    /// Applies timer operations handed out by [`Router::apply_deferring_timers`], in log order.
    ///
    /// # Errors
    /// When the KVS fails.
    pub async fn apply_deferred_timers(
        &self,
        mut ops: Vec<DeferredTimerOp>,
    ) -> Result<(), KvsError> {
        if ops.is_empty() {
            return Ok(());
        }
        // Stable: the operations of one event keep the order its reducers gave them.
        ops.sort_by_key(|op| op.place);
        let ops = ops
            .iter()
            .map(|op| {
                (
                    LogPosition {
                        node: &op.node,
                        seq: op.seq,
                    },
                    op.op.clone(),
                )
            })
            .collect();
        self.timers.apply(&*self.kvs, ops).await
    }

    async fn apply_batch(
        &self,
        batch: &DurableBatch,
        mode: Mode,
        mut deferred: Option<&mut Vec<DeferredTimerOp>>,
    ) -> Result<Applied, KvsError> {
        let mut times = ReducerTimes::default();
        if !self.kvs.updates_in_memory() {
            let report = self
                .apply_lines(batch, &batch.lines, mode, deferred, &mut times)
                .await?;
            times.report();
            return Ok(report);
        }
        // Applied whole, a batch's events would be built for all its lines first and then
        // visited again key by key: for a replayed batch (tens of megabytes) or a busy
        // server's (a megabyte), each visit from memory rather than from the cache. Chunks of
        // it keep a chunk's lines and events in the cache from the first visit to the last;
        // the result is the same, since the chunks go in order. (A networked store is better
        // served by few large updates: it gets the batch whole.)
        let mut report = Applied::default();
        for lines in batch.lines.chunks(self.chunk) {
            report += self
                .apply_lines(batch, lines, mode, deferred.as_deref_mut(), &mut times)
                .await?;
        }
        times.report();
        Ok(report)
    }

    /// Applies `lines` of `batch` (all of them, or a chunk).
    async fn apply_lines(
        &self,
        batch: &DurableBatch,
        lines: &[crate::log::CommittedLine],
        mode: Mode,
        deferred: Option<&mut Vec<DeferredTimerOp>>,
        times: &mut ReducerTimes,
    ) -> Result<Applied, KvsError> {
        let mut report = Applied::default();
        let mut events: Vec<Event<'_>> = Vec::with_capacity(lines.len());
        // Each event's place in the batch: where its line starts in the batch's buffer. Lines
        // are in the buffer in the batch's order (a merged batch of several nodes' logs too),
        // and a parallel replay's lanes share their batch's buffer, so this orders timer
        // operations across nodes and lanes as the batch does; (node, seq) would not.
        let mut places: Vec<usize> = Vec::with_capacity(lines.len());
        for line in lines {
            // Live lines come with what ingest knew; lines read back from disk are parsed.
            let prepared = match (&line.prepared, line.time) {
                (Some(p), Some(time)) => p.event(batch.body(line), line.seq, time),
                _ => None,
            };
            // Only a line in one piece is parsed (a live line whose body the writer kept
            // apart always comes with what ingest knew about it).
            let parsed = || match line.body {
                None => Event::from_line(batch.text(line.range)),
                Some(_) => Err(crate::event::envelope::LineError::Split),
            };
            match prepared.map_or_else(parsed, Ok) {
                Ok(event) => {
                    events.push(event);
                    places.push(line.range.0);
                }
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
        // Scope keys met in this batch, by text, each with the work slot of every reducer
        // keyed under it (by registry index; 0: none yet). Several reducers share a scope, so
        // an event costs one lookup per distinct scope, and a key text is allocated once.
        let mut index: HashMap<OwnedKey, usize, PrehashedState> = HashMap::default();
        let mut scopes: Vec<(ScopeKey, Vec<u32>)> = Vec::new();
        let reducer_count = self.registry.all().len();
        let text_hasher = foldhash::fast::RandomState::default();
        // Each distinct scope's key text is written once per event, into a reused buffer, and
        // looked up borrowed: a key is allocated only the first time a batch meets it.
        // (scope, text buffer, entry in `scopes` — `None` when the event lacks a scope field)
        let mut scope_keys: Vec<(Scope, String, Option<usize>)> = Vec::with_capacity(4);
        for (event_index, event) in events.iter().enumerate() {
            let mut used = 0;
            // Roster changes take effect from the next event on, in log order.
            self.roster.observe(event);
            let mut course_access: Option<bool> = None;
            for reducer in self
                .registry
                .for_source(&event.source, event.timer.is_some())
            {
                if reducer.scope.subject() == Subject::Course
                    && !*course_access.get_or_insert_with(|| self.roster.authorize_event(event))
                {
                    continue;
                }
                let position = match scope_keys[..used]
                    .iter()
                    .position(|(s, _, _)| *s == reducer.scope)
                {
                    Some(p) => p,
                    None => {
                        if used == scope_keys.len() {
                            scope_keys.push((reducer.scope, String::with_capacity(96), None));
                        }
                        let entry = &mut scope_keys[used];
                        entry.0 = reducer.scope;
                        entry.2 = match reducer.scope.write_key(event, &mut entry.1) {
                            None => None,
                            Some(()) => {
                                let text = entry.1.as_str();
                                let hash = std::hash::BuildHasher::hash_one(&text_hasher, text);
                                let lookup = BorrowedKey(text, hash);
                                Some(match index.get(&lookup as &dyn KeyView) {
                                    Some(&found) => found,
                                    None => {
                                        let scope = ScopeKey::from_text(text);
                                        scopes.push((scope.clone(), vec![0; reducer_count]));
                                        index.insert(OwnedKey(scope, hash), scopes.len() - 1);
                                        scopes.len() - 1
                                    }
                                })
                            }
                        };
                        used += 1;
                        used - 1
                    }
                };
                let Some(entry) = scope_keys[position].2 else {
                    continue;
                };
                let (scope, slots) = &mut scopes[entry];
                let slot = match slots.get(reducer.index).copied().unwrap_or(0) {
                    0 => {
                        work.keys.push((
                            StateKey {
                                reducer: reducer.name.clone(),
                                scope: scope.clone(),
                            },
                            reducer.reducer.clone(),
                        ));
                        work.pending.push(Vec::new());
                        work.results.push(KeyResult::default());
                        let slot = work.keys.len() - 1;
                        if let Some(s) = slots.get_mut(reducer.index) {
                            *s = slot as u32 + 1;
                        }
                        slot
                    }
                    s => s as usize - 1,
                };
                work.pending[slot].push(event_index);
            }
        }
        if !work.keys.is_empty() {
            let started = std::time::Instant::now();
            let result = self.kvs.update(&mut work).await;
            crate::telemetry::metrics::kvs_updated(started.elapsed(), result.is_ok());
            result?;
            times.add(&work);
        }

        let mut changes = Vec::new();
        let mut notifications = Vec::new();
        // A fired timer leaves the table before the effects of its own event apply, so a
        // reducer may re-arm the same id while handling it (the sort below is stable).
        let mut timer_ops: Vec<(usize, LogPosition<'_>, TimerOp)> = events
            .iter()
            .zip(&places)
            .filter_map(|(event, &place)| {
                let id = event.timer.as_ref()?;
                Some((place, event.position, TimerOp::Fired { id: id.to_string() }))
            })
            .collect();
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
                            notifications.push((to, message));
                        }
                    }
                    Effect::Timer(request) => timer_ops.push((
                        places[event_index],
                        event.position,
                        TimerOp::Arm {
                            request,
                            auth: event.auth.clone().into_owned(),
                        },
                    )),
                    Effect::CancelTimer { id } => timer_ops.push((
                        places[event_index],
                        event.position,
                        TimerOp::Cancel { id },
                    )),
                }
            }
        }
        if !notifications.is_empty() {
            self.notify(notifications).await;
        }
        if !timer_ops.is_empty() {
            timer_ops.sort_by_key(|(place, _, _)| *place);
            match deferred {
                Some(deferred) => {
                    deferred.extend(
                        timer_ops
                            .into_iter()
                            .map(|(place, pos, op)| DeferredTimerOp {
                                place,
                                node: Arc::from(pos.node),
                                seq: pos.seq,
                                op,
                            }),
                    )
                }
                None => {
                    let ops = timer_ops.into_iter().map(|(_, pos, op)| (pos, op));
                    self.timers.apply(&*self.kvs, ops.collect()).await?
                }
            }
        }
        self.stats.add_reducer_failures(report.failures as u64);
        if mode == Mode::Live && !changes.is_empty() {
            self.publish_changes(&work, &changes).await;
        }
        // Replayed batches count too: a node that just started has applied its log.
        if let Some(last) = lines.last() {
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
        let started = std::time::Instant::now();
        let published = self.pubsub.publish(STATE_CHANGES, Bytes::from(out)).await;
        crate::telemetry::metrics::pubsub_published(started.elapsed(), published.is_ok());
        if let Err(e) = published {
            tracing::warn!(error = %e, "could not publish state changes");
        }
    }

    /// Publishes a batch's notifications, in order, as few messages as possible: a JSON array
    /// of `{"to", "message"}` per [`NOTIFY_CHUNK`] notifications. One message per batch (not
    /// one per notification) keeps a burst — a TA opening office hours tells every student in
    /// line — from overrunning the subscribers' bounded buffers.
    async fn notify(&self, notifications: Vec<(crate::reducer::Recipient, serde_json::Value)>) {
        let mut notifications = notifications;
        for chunk in notifications.chunks_mut(NOTIFY_CHUNK) {
            let mut out = Vec::with_capacity(chunk.len() * 256);
            out.push(b'[');
            for (i, (to, message)) in chunk.iter_mut().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"to\":");
                // The socket message's `status` defaults to "notify".
                if let serde_json::Value::Object(m) = message {
                    m.entry("status").or_insert_with(|| "notify".into());
                }
                if serde_json::to_writer(&mut out, to).is_err() || {
                    out.extend_from_slice(b",\"message\":");
                    serde_json::to_writer(&mut out, &message).is_err()
                } {
                    tracing::warn!("notification does not serialize");
                    return;
                }
                out.push(b'}');
            }
            out.push(b']');
            if let Err(e) = self.pubsub.publish(NOTIFICATIONS, Bytes::from(out)).await {
                tracing::warn!(error = %e, "could not publish notifications");
            }
        }
    }
}

/// A timer operation held back by [`Router::apply_deferring_timers`], with the log position
/// of the event that caused it.
#[derive(Debug, Clone)]
pub struct DeferredTimerOp {
    /// The event's place in its batch (where its line starts in the batch's buffer, which
    /// the lanes of a parallel replay share): the order to apply in.
    pub place: usize,
    /// The node of the event.
    pub node: Arc<str>,
    /// Its sequence number.
    pub seq: u64,
    /// The operation.
    pub op: TimerOp,
}

/// Notifications per published message at most (a batch with more publishes several).
const NOTIFY_CHUNK: usize = 4096;

/// A batch-local scope key with its precomputed hash.
#[derive(Clone)]
struct OwnedKey(ScopeKey, u64);

/// The same key, borrowed: what the router looks up before deciding to allocate.
struct BorrowedKey<'s>(&'s str, u64);

/// What both key forms expose, so the map can be queried with a borrowed key. The hash is
/// computed once per scope key per event.
trait KeyView {
    fn text(&self) -> &str;
    fn prehash(&self) -> u64;
}

impl KeyView for OwnedKey {
    fn text(&self) -> &str {
        self.0.as_str()
    }
    fn prehash(&self) -> u64 {
        self.1
    }
}

impl KeyView for BorrowedKey<'_> {
    fn text(&self) -> &str {
        self.0
    }
    fn prehash(&self) -> u64 {
        self.1
    }
}

impl PartialEq for OwnedKey {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for OwnedKey {}

/// Hashes precomputed in [`KeyView::prehash`] pass through unchanged.
#[derive(Default, Clone, Copy)]
struct PrehashedState;

impl std::hash::BuildHasher for PrehashedState {
    type Hasher = Prehashed;
    fn build_hasher(&self) -> Prehashed {
        Prehashed(0)
    }
}

/// See [`PrehashedState`].
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by the key types; anything else folds in byte by byte.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl<'a> std::borrow::Borrow<dyn KeyView + 'a> for OwnedKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl std::hash::Hash for OwnedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.1);
    }
}

impl std::hash::Hash for dyn KeyView + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.prehash());
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for dyn KeyView + '_ {}

/// Lines of a batch applied at a time ([`Router::apply`], with a store in memory): few enough
/// that a chunk's lines and events stay in the cache (~1 KiB a line: 64 lines fit the
/// processor's second-level cache beside the states they touch; at 256 a field lookup still
/// missed it), enough that a student's events in it share their state lookups.
/// `CLASSPULSE_APPLY_CHUNK` overrides it.
fn apply_chunk() -> usize {
    static CHUNK: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
        std::env::var("CLASSPULSE_APPLY_CHUNK")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(64, |n| n.max(1))
    });
    *CHUNK
}

/// Each reducer's applications, failures and time in a batch, reported once per batch (one
/// line per reducer, not per key: a batch touches few reducers and many keys). A batch is
/// applied in chunks; reporting per chunk was 3 % of a replay's reducing thread.
#[derive(Default)]
struct ReducerTimes(Vec<(Arc<str>, usize, usize, std::time::Duration)>);

impl ReducerTimes {
    /// Adds a chunk's work.
    fn add(&mut self, work: &Work<'_, '_>) {
        for ((key, _), result) in work.keys.iter().zip(&work.results) {
            let name = &key.reducer;
            match self.0.iter_mut().find(|(n, ..)| n == name) {
                Some(entry) => {
                    entry.1 += result.applied;
                    entry.2 += result.failures;
                    entry.3 += result.spent;
                }
                None => self
                    .0
                    .push((name.clone(), result.applied, result.failures, result.spent)),
            }
        }
    }

    fn report(self) {
        for (name, events, failures, spent) in self.0 {
            if events > 0 {
                crate::telemetry::metrics::reducer_ran(&name, events, failures, spent);
            }
        }
    }
}

#[derive(Default)]
struct KeyResult {
    /// Time in the reducer, for this key's events.
    spent: std::time::Duration,
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
        // The highest position applied from the node of the events at hand (a batch is nearly
        // always one node's), advanced in the slot when the node changes and at the end.
        let mut applied: Option<(&str, u64)> = None;
        let mut last: Option<LogPosition<'_>> = None;
        let started = std::time::Instant::now();
        for &event_index in &self.pending[index] {
            let event = &self.events[event_index];
            let node = event.position.node;
            let upto = match applied {
                Some((n, seq)) if std::ptr::eq(n, node) || n == node => seq,
                _ => {
                    if let Some(pos) = last.take() {
                        slot.applied.advance(pos);
                    }
                    let seq = slot.applied.of(node);
                    applied = Some((node, seq));
                    seq
                }
            };
            if event.position.seq <= upto {
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
            applied = Some((node, event.position.seq));
            last = Some(event.position);
            let (changed, effects, error) = outcome.into_parts();
            if let Some(reason) = error {
                result.failures += 1;
                tracing::warn!(reducer = reducer.name(), seq = event.position.seq,
                    key = %self.keys[index].0.scope, %reason, "reducer failed on an event");
                // Whatever the reducer did to the state stands: replay would do the same.
                result.changed = true;
            }
            result.changed |= changed;
            // Most events cause no effect: not even an empty iterator for them (it showed as
            // 3 % of a replay's reducing thread).
            if !effects.is_empty() {
                result
                    .effects
                    .extend(effects.into_iter().map(|e| (event_index, e)));
            }
        }
        if let Some(pos) = last {
            slot.applied.advance(pos);
        }
        result.spent = started.elapsed();
        result.changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Timestamp;
    use crate::kvs::MemoryKvs;
    use crate::pubsub::MemoryPubSub;
    use crate::reducer::{TimerRequest, erase};
    use crate::replay::parallel::Parallel;

    /// Arms timer `t` on an `arm` event, cancels it on a `cancel` event (as an office-hours
    /// offer is armed by a TA's call and cancelled by the student's answer).
    struct ArmAndCancel;

    impl crate::reducer::Reducer for ArmAndCancel {
        type State = u32;
        fn name(&self) -> &str {
            "test.timers"
        }
        fn sources(&self) -> &[&str] {
            &["org.test"]
        }
        fn scope(&self) -> Scope {
            Scope::student()
        }
        fn reduce(&self, n: &mut u32, event: &Event<'_>) -> Outcome {
            *n += 1;
            match event.fields.str("event").as_deref() {
                Some("arm") => Outcome::changed().timer(TimerRequest {
                    id: "t".into(),
                    at: crate::event::Timestamp::from_secs_f64(1e9),
                    event: serde_json::json!({"event": "expire", "source": "org.test"}),
                }),
                _ => Outcome::changed().with(Effect::CancelTimer { id: "t".into() }),
            }
        }
    }

    /// A batch as a merged replay of two nodes' logs makes it: node b's line first, then
    /// node a's (whose (node, seq) sorts first).
    fn merged_batch() -> DurableBatch {
        batch(&[("b", "x", "arm"), ("a", "y", "cancel")])
    }

    /// A batch of `(node, student, event)` lines.
    fn batch(events: &[(&str, &str, &str)]) -> DurableBatch {
        crate::testing::batch_of((1..).zip(events).map(|(seq, (node, student, event))| {
            let client = format!(r#"{{"event":"{event}"}}"#);
            let time = Timestamp::from_millis(1_000);
            (
                seq,
                crate::testing::log_line(node, seq, time, student, "org.test", &client),
            )
        }))
    }

    fn router(timers: Arc<TimerTable>) -> Router {
        let registry = Arc::new(Registry::new([("test".to_owned(), erase(ArmAndCancel))]).unwrap());
        Router::new(
            registry,
            Arc::new(MemoryKvs::new()),
            Arc::new(MemoryPubSub::new(16)),
            timers,
            Arc::new(Stats::default()),
        )
    }

    #[tokio::test]
    async fn timer_operations_follow_the_batch_order_not_node_names() {
        // Serially: the arm (node b) comes before the cancel (node a), as in the batch.
        let timers = Arc::new(TimerTable::new());
        router(timers.clone())
            .apply(&merged_batch(), Mode::Replay)
            .await
            .unwrap();
        assert_eq!(timers.scheduled(), 0, "the cancel came after the arm");

        // Over two lanes (x and y are different students), merged back in the same order.
        let timers = Arc::new(TimerTable::new());
        let applied = Parallel::new(2)
            .with_min_run(1)
            .apply(&router(timers.clone()), merged_batch(), Mode::Replay)
            .await
            .unwrap();
        assert_eq!(applied.events, 2);
        assert_eq!(
            timers.scheduled(),
            0,
            "the lanes' operations keep the batch order"
        );
    }

    #[tokio::test]
    async fn a_batch_applied_a_line_at_a_time_ends_as_applied_whole() {
        let events = [
            ("a", "x", "arm"),
            ("a", "y", "arm"),
            ("a", "x", "cancel"),
            ("a", "x", "arm"),
            ("a", "y", "cancel"),
            ("a", "x", "noop"),
        ];
        let mut outcomes = Vec::new();
        for (chunk, mode) in [1, 2, 1000]
            .into_iter()
            .flat_map(|c| [(c, Mode::Replay), (c, Mode::Live)])
        {
            let timers = Arc::new(TimerTable::new());
            let mut router = router(timers.clone());
            router.chunk = chunk;
            let applied = router.apply(&batch(&events), mode).await.unwrap();
            let mut states = Vec::new();
            router
                .kvs()
                .scan(&mut |key, slot| {
                    states.push(format!(
                        "{key} {:?} {}",
                        slot.applied,
                        slot.state.to_json_value()
                    ))
                })
                .await
                .unwrap();
            states.sort();
            outcomes.push((
                applied.events,
                applied.applications,
                timers.scheduled(),
                states,
            ));
        }
        assert_eq!(outcomes[0].0, 6);
        assert_eq!(outcomes[0].2, 0, "x's last arm was cancelled by its no-op");
        let states = &outcomes[0].3;
        assert!(states[0].ends_with("{\"pending\":{}}"), "{states:?}");
        assert!(states[1].ends_with(" 4"), "x saw four events: {states:?}");
        assert!(states[2].ends_with(" 2"), "y saw two: {states:?}");
        assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{outcomes:#?}");
    }
}
