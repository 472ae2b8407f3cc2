//! Aggregators: a course's live view, computed from its roster and its students' states.
//!
//! Modules register aggregators next to their reducers (`ModuleBuilder::aggregator`); the
//! dashboards hub runs them. A view is one row per student plus a summary:
//!
//! - [`Aggregator::row`] computes one student's row from that student's reducer states. The
//!   hub recomputes a row only when one of the [`Aggregator::student_inputs`] changed at that
//!   student's keys (or when time moves on: a row may say "idle" after a minute of silence),
//!   and sends only the rows that changed.
//! - [`Aggregator::summary`] folds the rows (and course-level states, such as the
//!   office-hours queue, read from [`Aggregator::course_inputs`]) into the class summary.
//!
//! Both are functions of what they are given: no I/O but reading states, no clock but `now`.
//! A view whose [`Aggregator::tile`] is true is also shown on every course page of the
//! educator dashboard, as the [`Tile`] its summary carries.

use crate::event::Timestamp;
use crate::kvs::{Kvs, KvsError, Slot, StateKey};
use crate::reducer::ScopeKey;
use crate::roster::{CourseRoster, Member};
use crate::router::Registry;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One student, as a row is computed for them.
#[derive(Clone, Copy, Debug)]
pub struct StudentRef<'a> {
    /// Safe user id.
    pub id: &'a str,
    /// Their roster entry (name, e-mail).
    pub member: &'a Member,
    /// The hub's current time.
    pub now: Timestamp,
}

impl StudentRef<'_> {
    /// The student's key, `student:<id>` (where [`crate::reducer::Scope::student`] reducers
    /// keep their state).
    pub fn key(&self) -> ScopeKey {
        ScopeKey::student(self.id)
    }
}

/// What the educator dashboard shows of a view whose [`Aggregator::tile`] is true: one figure
/// with a label, and an optional line of detail. The view's summary carries it as `"tile"`.
///
/// ```
/// use classpulse_core::aggregator::Tile;
/// let tile = Tile::new(3, "hands up").detail("longest 2 min");
/// assert_eq!(tile.to_json()["value"], "3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tile {
    /// The figure (`3`, `12 min`).
    pub value: String,
    /// What it counts (`hands up`).
    pub label: String,
    /// A line of context (`longest 2 min`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Tile {
    /// A tile showing `value` and `label`.
    pub fn new(value: impl std::fmt::Display, label: impl Into<String>) -> Self {
        Tile {
            value: value.to_string(),
            label: label.into(),
            detail: None,
        }
    }

    /// With a line of detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// As JSON, for a summary's `"tile"` member.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What a summary is computed from.
#[derive(Clone, Copy, Debug)]
pub struct SummaryInputs<'a> {
    /// The course's roster.
    pub course: &'a CourseRoster,
    /// Every student's row, by safe user id.
    pub rows: &'a BTreeMap<String, Value>,
    /// The course-level states named by [`Aggregator::course_inputs`] (reducer name → state
    /// at `course:<id>`, as JSON; absent when the course has none yet).
    pub course_states: &'a BTreeMap<String, Value>,
    /// The hub's current time.
    pub now: Timestamp,
}

/// A course view a dashboard can subscribe to.
///
/// ```
/// use async_trait::async_trait;
/// use classpulse_core::aggregator::{Aggregator, StateReader, StudentRef, SummaryInputs};
/// use classpulse_core::kvs::KvsError;
/// use classpulse_core::reducer::ScopeKey;
/// use serde_json::{json, Value};
///
/// /// How many events each student sent (from the `activity` module's counter).
/// struct Events;
///
/// #[async_trait]
/// impl Aggregator for Events {
///     fn name(&self) -> &str { "example.events" }
///     fn title(&self) -> &str { "Events" }
///     fn student_inputs(&self) -> &[&str] { &["activity.event_count"] }
///     async fn row(&self, s: StudentRef<'_>, states: &StateReader<'_>) -> Result<Value, KvsError> {
///         let count = states.json("activity.event_count", &ScopeKey::student(s.id)).await?;
///         Ok(json!({"name": s.member.name, "events": count.map_or(json!(0), |c| c["count"].clone())}))
///     }
///     fn summary(&self, i: SummaryInputs<'_>) -> Value {
///         json!({"students": i.rows.len()})
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a ClassPulse aggregator",
    note = "implement `classpulse_core::aggregator::Aggregator`: a name, its inputs, `row` and `summary`"
)]
#[async_trait]
pub trait Aggregator: Send + Sync + 'static {
    /// Unique view name, `module.view` (`writing.class`).
    fn name(&self) -> &str;

    /// A title for people (`Writing`).
    fn title(&self) -> &str;

    /// The reducers whose per-student states the rows read; a change to one of them at a
    /// student's key recomputes that student's row.
    fn student_inputs(&self) -> &[&str];

    /// The reducers whose course states (`course:<id>`) the summary reads.
    fn course_inputs(&self) -> &[&str] {
        &[]
    }

    /// Whether the educator dashboard shows this view as a tile on every course page: its
    /// summary then has a `"tile"` member, a [`Tile`] (`{"value", "label", "detail"}`).
    fn tile(&self) -> bool {
        false
    }

    /// One student's row (a JSON object). Reads only that student's states.
    ///
    /// # Errors
    /// When the state store fails.
    async fn row(
        &self,
        student: StudentRef<'_>,
        states: &StateReader<'_>,
    ) -> Result<Value, KvsError>;

    /// The class summary over every row.
    fn summary(&self, inputs: SummaryInputs<'_>) -> Value;
}

/// Reads reducer states for an aggregator: typed and in place where the backend keeps them
/// typed (the memory KVS), decoded otherwise.
#[derive(Clone, Copy)]
pub struct StateReader<'a> {
    kvs: &'a dyn Kvs,
    registry: &'a Registry,
}

impl<'a> StateReader<'a> {
    /// A reader over `kvs`, finding reducers in `registry`.
    pub fn new(kvs: &'a dyn Kvs, registry: &'a Registry) -> Self {
        StateReader { kvs, registry }
    }

    /// Calls `f` with the state of `reducer` at `scope` (`None`: no such state, unknown
    /// reducer, or a state of another type than `T`).
    ///
    /// # Errors
    /// When the state store fails.
    pub async fn with<T, R>(
        &self,
        reducer: &str,
        scope: &ScopeKey,
        f: impl FnOnce(Option<&T>) -> R + Send,
    ) -> Result<R, KvsError>
    where
        T: 'static,
        R: Send,
    {
        let Some(registered) = self.registry.get(reducer) else {
            return Ok(f(None));
        };
        let key = StateKey {
            reducer: registered.name.clone(),
            scope: scope.clone(),
        };
        let mut f = Some(f);
        let mut out = None;
        self.kvs
            .read(&key, &*registered.reducer, &mut |slot: Option<&Slot>| {
                if let Some(f) = f.take() {
                    out = Some(f(slot.and_then(|s| s.state.as_any().downcast_ref::<T>())));
                }
            })
            .await?;
        match (out, f) {
            (Some(out), _) => Ok(out),
            (None, Some(f)) => Ok(f(None)),
            (None, None) => unreachable!("the callback ran or did not"),
        }
    }

    /// A copy of the state of `reducer` at `scope` (`None`: no such state, unknown reducer, or a
    /// state of another type than `T`). For small states; read large ones in place with
    /// [`StateReader::with`].
    ///
    /// # Errors
    /// When the state store fails.
    pub async fn cloned<T: Clone + Send + 'static>(
        &self,
        reducer: &str,
        scope: &ScopeKey,
    ) -> Result<Option<T>, KvsError> {
        self.with(reducer, scope, |state: Option<&T>| state.cloned())
            .await
    }

    /// The state of `reducer` at `scope` as JSON (`None` when there is none).
    ///
    /// # Errors
    /// When the state store fails.
    pub async fn json(&self, reducer: &str, scope: &ScopeKey) -> Result<Option<Value>, KvsError> {
        let Some(registered) = self.registry.get(reducer) else {
            return Ok(None);
        };
        let key = StateKey {
            reducer: registered.name.clone(),
            scope: scope.clone(),
        };
        let mut out = None;
        self.kvs
            .read(&key, &*registered.reducer, &mut |slot: Option<&Slot>| {
                out = slot.map(|s| s.state.to_json_value());
            })
            .await?;
        Ok(out)
    }
}

/// The aggregators modules registered, by name.
#[derive(Clone, Default)]
pub struct Aggregators {
    list: Vec<(Arc<str>, Arc<dyn Aggregator>)>,
}

/// Two aggregators share a name.
#[derive(Debug, thiserror::Error)]
#[error("aggregator {0:?} is registered twice")]
pub struct DuplicateAggregator(pub String);

impl Aggregators {
    /// Collects `(module, aggregator)` pairs.
    ///
    /// # Errors
    /// When two share a name.
    pub fn new(
        aggregators: impl IntoIterator<Item = (String, Arc<dyn Aggregator>)>,
    ) -> Result<Self, DuplicateAggregator> {
        let mut list: Vec<(Arc<str>, Arc<dyn Aggregator>)> = Vec::new();
        for (_module, aggregator) in aggregators {
            let name: Arc<str> = Arc::from(aggregator.name());
            if list.iter().any(|(n, _)| *n == name) {
                return Err(DuplicateAggregator(name.to_string()));
            }
            list.push((name, aggregator));
        }
        Ok(Aggregators { list })
    }

    /// An aggregator by view name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Aggregator>> {
        self.list.iter().find(|(n, _)| &**n == name).map(|(_, a)| a)
    }

    /// All of them, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Aggregator>> {
        self.list.iter().map(|(_, a)| a)
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// `[dashboard]` in `config.toml`: how live views are pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// A view is pushed at once when its inputs change (the leading edge), then at most once
    /// per this many milliseconds while changes keep coming.
    pub coalesce_ms: u64,
    /// Every this many seconds, rows are recomputed even without changes (so "active" turns
    /// "idle" when a student stops).
    pub refresh_secs: u64,
    /// Course views one dashboard socket may subscribe to at once.
    pub max_subscriptions: usize,
    /// Dashboard sockets one person may hold open at once (on this node); another is answered
    /// `too_many_dashboards` and closed.
    pub max_dashboards_per_user: usize,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            coalesce_ms: 50,
            refresh_secs: 5,
            max_subscriptions: 16,
            max_dashboards_per_user: 8,
        }
    }
}

impl DashboardConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// A `(key, message)` for the first bad value.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.coalesce_ms > 10_000 {
            return Err(("dashboard.coalesce_ms", "must be at most 10000"));
        }
        if self.refresh_secs == 0 {
            return Err(("dashboard.refresh_secs", "must be at least 1"));
        }
        if self.max_subscriptions == 0 {
            return Err(("dashboard.max_subscriptions", "must be at least 1"));
        }
        if self.max_dashboards_per_user == 0 {
            return Err(("dashboard.max_dashboards_per_user", "must be at least 1"));
        }
        Ok(())
    }
}
