//! Durable timers: a reducer's `Timer` effect becomes an event at its due time.
//!
//! The pending timers live in one state of the KVS (`core.timers` / `global`), changed only by
//! the router in log order: an effect arms a timer, a `CancelTimer` effect or the timer's own
//! fired event removes it. So the table replays like any other state, and after a restart the
//! [`TimerService`] finds every pending timer in it — those that fell due while the server was
//! down fire at once. A fired timer is appended to the log as an ordinary event (with
//! `"timer": id` in its envelope and the identity of the event that armed it), so it too is
//! reduced, logged and replayed like everything else; reducers treat it idempotently.

use crate::clock::SharedClock;
use crate::event::envelope::EnvelopeBody;
use crate::event::{Auth, Fields, GENERIC_SOURCE, LogPosition, Timestamp};
use crate::kvs::{Kvs, KvsError, Slot, StateKey, UpdateBatch};
use crate::log::{LogWriter, PendingEvent};
use crate::reducer::{DynReducer, Outcome, Reducer, Scope, ScopeKey, TimerRequest, erase};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The name of the timer table's state.
pub const TIMER_TABLE: &str = "core.timers";

/// A timer waiting to fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTimer {
    /// Due time.
    pub at: Timestamp,
    /// The event to emit.
    pub event: serde_json::Value,
    /// Identity of the event that armed it; the fired event carries it.
    #[serde(deserialize_with = "crate::event::deserialize_owned_auth")]
    pub auth: Auth<'static>,
}

/// The state of the timer table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimerState {
    /// Pending timers by id.
    pub pending: BTreeMap<String, PendingTimer>,
}

/// A change to the table, in log order.
#[derive(Debug, Clone)]
pub enum TimerOp {
    /// Arm (or re-arm) a timer.
    Arm {
        /// The request.
        request: TimerRequest,
        /// Identity of the arming event.
        auth: Auth<'static>,
    },
    /// Cancel a timer.
    Cancel {
        /// Its id.
        id: String,
    },
    /// A timer's event was logged: it is no longer pending.
    Fired {
        /// Its id.
        id: String,
    },
}

/// The table's owner as a reducer, so the KVS can create, decode and serialize it. It is never
/// routed events; the router changes it through [`TimerTable::apply`].
pub struct TimerTableReducer;

impl Reducer for TimerTableReducer {
    type State = TimerState;
    fn name(&self) -> &str {
        TIMER_TABLE
    }
    fn sources(&self) -> &[&str] {
        &[]
    }
    fn scope(&self) -> Scope {
        Scope::global()
    }
    fn reduce(&self, _state: &mut TimerState, _event: &crate::event::Event<'_>) -> Outcome {
        Outcome::unchanged()
    }
}

/// The durable timer table plus this process's schedule of it.
pub struct TimerTable {
    key: StateKey,
    reducer: Arc<dyn DynReducer>,
    schedule: Mutex<Schedule>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Schedule {
    by_time: BTreeSet<(Timestamp, String)>,
    timers: BTreeMap<String, PendingTimer>,
    /// Timers this process fired whose firing the table does not show yet (see `reload`).
    fired: BTreeMap<String, Timestamp>,
}

impl Schedule {
    fn arm(&mut self, id: String, timer: PendingTimer) {
        self.remove(&id);
        self.by_time.insert((timer.at, id.clone()));
        self.timers.insert(id, timer);
    }
    fn remove(&mut self, id: &str) {
        if let Some(old) = self.timers.remove(id) {
            self.by_time.remove(&(old.at, id.to_owned()));
        }
    }
}

impl Default for TimerTable {
    fn default() -> Self {
        Self::new()
    }
}

impl TimerTable {
    /// An empty table.
    pub fn new() -> Self {
        TimerTable {
            key: StateKey {
                reducer: Arc::from(TIMER_TABLE),
                scope: ScopeKey::from_text("global"),
            },
            reducer: erase(TimerTableReducer),
            schedule: Mutex::new(Schedule::default()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// The reducer that owns the table's state (for the registry).
    pub fn reducer(&self) -> Arc<dyn DynReducer> {
        self.reducer.clone()
    }

    /// Applies ops (in the order of the events that caused them) to the stored table and to
    /// the schedule.
    ///
    /// # Errors
    /// When the KVS fails.
    pub async fn apply(
        &self,
        kvs: &dyn Kvs,
        ops: Vec<(LogPosition<'_>, TimerOp)>,
    ) -> Result<(), KvsError> {
        let mut batch = TableUpdate {
            keys: vec![(self.key.clone(), self.reducer.clone())],
            ops: &ops,
            applied: Vec::new(),
        };
        kvs.update(&mut batch).await?;
        let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        for op in batch.applied {
            match op {
                TimerOp::Arm { request, auth } => schedule.arm(
                    request.id,
                    PendingTimer {
                        at: request.at,
                        event: request.event,
                        auth,
                    },
                ),
                TimerOp::Cancel { id } | TimerOp::Fired { id } => {
                    schedule.fired.remove(&id);
                    schedule.remove(&id)
                }
            }
        }
        drop(schedule);
        self.wake.notify_one();
        Ok(())
    }

    /// Loads the schedule from the stored table (at start-up, after replay).
    ///
    /// # Errors
    /// When the KVS fails.
    pub async fn load(&self, kvs: &dyn Kvs) -> Result<usize, KvsError> {
        let mut pending = BTreeMap::new();
        kvs.read(&self.key, &*self.reducer, &mut |slot: Option<&Slot>| {
            if let Some(state) = slot.and_then(|s| s.state.as_any().downcast_ref::<TimerState>()) {
                pending = state.pending.clone();
            }
        })
        .await?;
        let count = pending.len();
        let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        for (id, timer) in pending {
            schedule.arm(id, timer);
        }
        drop(schedule);
        self.wake.notify_one();
        Ok(count)
    }

    /// Replaces the schedule with the stored table — how the node holding the timer lease sees
    /// timers armed through other nodes. Timers this process fired whose firing the table does
    /// not reflect yet stay out, so they do not fire twice.
    ///
    /// # Errors
    /// When the KVS fails.
    pub async fn reload(&self, kvs: &dyn Kvs) -> Result<usize, KvsError> {
        let mut pending = BTreeMap::new();
        kvs.read(&self.key, &*self.reducer, &mut |slot: Option<&Slot>| {
            if let Some(state) = slot.and_then(|s| s.state.as_any().downcast_ref::<TimerState>()) {
                pending = state.pending.clone();
            }
        })
        .await?;
        let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        schedule
            .fired
            .retain(|id, at| pending.get(id).is_some_and(|t| t.at == *at));
        schedule.by_time.clear();
        schedule.timers.clear();
        let count = pending.len();
        for (id, timer) in pending {
            if schedule.fired.get(&id) != Some(&timer.at) {
                schedule.arm(id, timer);
            }
        }
        drop(schedule);
        self.wake.notify_one();
        Ok(count)
    }

    /// Number of timers scheduled in this process.
    pub fn scheduled(&self) -> usize {
        self.schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .timers
            .len()
    }

    fn take_due(&self, now: Timestamp) -> (Vec<(String, PendingTimer)>, Option<Timestamp>) {
        let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        while let Some((at, id)) = schedule.by_time.first().cloned() {
            if at > now {
                break;
            }
            schedule.by_time.pop_first();
            if let Some(timer) = schedule.timers.remove(&id) {
                schedule.fired.insert(id.clone(), timer.at);
                due.push((id, timer));
            }
        }
        let next = schedule.by_time.first().map(|(at, _)| *at);
        (due, next)
    }
}

struct TableUpdate<'o, 'p> {
    keys: Vec<(StateKey, Arc<dyn DynReducer>)>,
    ops: &'o [(LogPosition<'p>, TimerOp)],
    applied: Vec<TimerOp>,
}

impl UpdateBatch for TableUpdate<'_, '_> {
    fn keys(&self) -> &[(StateKey, Arc<dyn DynReducer>)] {
        &self.keys
    }

    fn apply(&mut self, _index: usize, slot: &mut Slot) -> bool {
        self.applied.clear();
        let Some(state) = slot.state.as_any_mut().downcast_mut::<TimerState>() else {
            tracing::error!("the timer table holds a state of another type");
            return false;
        };
        let mut changed = false;
        let mut i = 0;
        while i < self.ops.len() {
            let pos = self.ops[i].0;
            let end = i + self.ops[i..].iter().take_while(|(p, _)| *p == pos).count();
            if !slot.applied.covers(pos) {
                for (_, op) in &self.ops[i..end] {
                    match op {
                        TimerOp::Arm { request, auth } => {
                            state.pending.insert(
                                request.id.clone(),
                                PendingTimer {
                                    at: request.at,
                                    event: request.event.clone(),
                                    auth: auth.clone(),
                                },
                            );
                        }
                        TimerOp::Cancel { id } | TimerOp::Fired { id } => {
                            state.pending.remove(id);
                        }
                    }
                    self.applied.push(op.clone());
                }
                slot.applied.advance(pos);
                changed = true;
            }
            i = end;
        }
        changed
    }
}

/// Fires due timers by appending their events to the log.
pub struct TimerService {
    table: Arc<TimerTable>,
    clock: SharedClock,
    writer: LogWriter,
    node: Arc<str>,
}

impl TimerService {
    /// A service over `table` that appends through `writer`.
    pub fn new(
        table: Arc<TimerTable>,
        clock: SharedClock,
        writer: LogWriter,
        node: Arc<str>,
    ) -> Self {
        TimerService {
            table,
            clock,
            writer,
            node,
        }
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let (due, next) = self.table.take_due(self.clock.now());
            for (id, timer) in due {
                if let Err(e) = self.fire(&id, &timer).await {
                    tracing::warn!(timer = %id, error = %e, "timer not fired; it stays pending and fires at next start");
                    return;
                }
            }
            let woken = self.table.wake.notified();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = woken => {}
                () = async {
                    match next {
                        Some(at) => self.clock.sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }

    async fn fire(
        &self,
        id: &str,
        timer: &PendingTimer,
    ) -> Result<(), crate::log::writer::LogClosed> {
        let client = serde_json::to_string(&timer.event).unwrap_or_else(|_| "{}".into());
        let source = timer
            .event
            .get("source")
            .and_then(|s| s.as_str())
            .unwrap_or(GENERIC_SOURCE)
            .to_owned();
        // Only objects are events; anything else is wrapped so the log stays well-formed.
        let client = if Fields::parse(&client).is_ok() {
            client
        } else {
            serde_json::json!({ "event": "timer", "value": timer.event }).to_string()
        };
        let mut body = String::with_capacity(client.len() + 256);
        EnvelopeBody {
            node: &self.node,
            conn: 0,
            ip: "",
            agent: "classpulse-timer",
            auth: &timer.auth,
            source: &source,
            timer: Some(id),
        }
        .write(&mut body, |out| out.push_str(&client));
        tracing::debug!(timer = id, "timer fired");
        self.writer
            .append(vec![PendingEvent {
                body,
                ack: None,
                prepared: None,
            }])
            .await
    }
}
