//! The hub: keeps the course views that dashboards watch up to date, driven by pub/sub.
//!
//! It listens to `state.changes` (which states changed, per applied batch), maps each changed
//! key to the views that read it — a student's key to the views of the courses the student is
//! in, a course's key to that course's views — and marks them dirty. Each watched view has a
//! task that recomputes what is dirty: at once when it was idle (the leading edge), then at
//! most once per `dashboard.coalesce_ms` while changes keep coming; and every
//! `dashboard.refresh_secs` in any case, for what depends on the time. A view nobody watches
//! is dropped after a grace period. Since views are computed from the shared state store and
//! change feed, every node that shares them shows the same views.

use crate::view::{LiveView, SubscriberGuard};
use classpulse_core::aggregator::{Aggregator, DashboardConfig};
use classpulse_core::pubsub::{Delivery, STATE_CHANGES};
use classpulse_core::roster::{ALL_COURSE, ROSTER_REDUCER, RosterMode};
use classpulse_core::runtime::Runtime;
use futures_util::StreamExt;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a view nobody watches is kept (a reloading page comes back within it).
const GRACE: Duration = Duration::from_secs(30);

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// No aggregator has that name.
    #[error("no view named {0:?}")]
    UnknownView(String),
}

/// Counters about the hub.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Change messages read from pub/sub.
    pub change_messages: AtomicU64,
    /// Times the change feed lagged (every view was then recomputed).
    pub lagged: AtomicU64,
    /// View computations.
    pub computations: AtomicU64,
    /// Messages sent to dashboard sockets.
    pub messages_sent: AtomicU64,
    /// Versions a subscriber skipped because it was busy receiving an earlier one.
    pub versions_skipped: AtomicU64,
}

/// The dashboards hub.
pub struct Hub {
    /// The runtime.
    pub rt: Arc<Runtime>,
    /// Settings.
    pub config: DashboardConfig,
    /// Counters.
    pub stats: HubStats,
    inner: Mutex<Inner>,
    /// Open dashboard sockets per user id (`dashboard.max_dashboards_per_user`).
    sockets: Mutex<HashMap<String, usize>>,
}

/// One open dashboard socket of a user; frees its place when dropped.
pub struct DashboardSlot {
    hub: Arc<Hub>,
    user: String,
}

impl Drop for DashboardSlot {
    fn drop(&mut self) {
        let mut sockets = self.hub.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = sockets.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                sockets.remove(&self.user);
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    views: HashMap<(String, String), Arc<LiveView>>,
    by_student: HashMap<String, Vec<Arc<LiveView>>>,
}

/// A subscriber's handle on a view.
pub struct Subscription {
    /// The view.
    pub view: Arc<LiveView>,
    /// Tells when the view's version changes.
    pub rx: watch::Receiver<u64>,
    _guard: SubscriberGuard,
}

impl Hub {
    /// Starts the hub: it follows state changes until the runtime shuts down.
    pub async fn start(rt: Arc<Runtime>) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            config: rt.config.dashboard.clone(),
            rt: rt.clone(),
            stats: HubStats::default(),
            inner: Mutex::new(Inner::default()),
            sockets: Mutex::new(HashMap::new()),
        });
        match rt.pubsub.subscribe(STATE_CHANGES).await {
            Ok(feed) => {
                tokio::spawn(hub.clone().listen(feed));
            }
            Err(e) => tracing::error!(error = %e, "dashboards cannot follow state changes"),
        }
        hub
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one of `user`'s dashboard places; `None` when they hold
    /// `dashboard.max_dashboards_per_user` already.
    pub fn open_dashboard(self: &Arc<Self>, user: &str) -> Option<DashboardSlot> {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let n = sockets.entry(user.to_owned()).or_insert(0);
        if *n >= self.config.max_dashboards_per_user {
            return None;
        }
        *n += 1;
        Some(DashboardSlot {
            hub: self.clone(),
            user: user.to_owned(),
        })
    }

    /// The aggregator named `view`.
    pub fn aggregator(&self, view: &str) -> Option<Arc<dyn Aggregator>> {
        self.rt.aggregators.get(view).cloned()
    }

    /// Subscribes to `view` of `course_id` (the caller checked the right to). The view is
    /// created, and computed, when nobody watched it yet.
    ///
    /// # Errors
    /// [`SubscribeError::UnknownView`].
    pub fn subscribe(
        self: &Arc<Self>,
        course_id: &str,
        view: &str,
    ) -> Result<Subscription, SubscribeError> {
        let aggregator = self
            .aggregator(view)
            .ok_or_else(|| SubscribeError::UnknownView(view.to_owned()))?;
        let mut inner = self.lock();
        let key = (course_id.to_owned(), view.to_owned());
        let live = match inner.views.get(&key) {
            Some(v) => v.clone(),
            None => {
                let live = Arc::new(LiveView::new(course_id, aggregator));
                inner.views.insert(key, live.clone());
                // Computed at once: the first subscriber waits for its snapshot.
                live.wake.notify_one();
                tokio::spawn(self.clone().run_view(live.clone()));
                live
            }
        };
        let guard = live.add_subscriber();
        drop(inner);
        let mut rx = live.watch();
        rx.mark_changed();
        Ok(Subscription {
            view: live,
            rx,
            _guard: guard,
        })
    }

    /// Views currently kept.
    pub fn view_count(&self) -> usize {
        self.lock().views.len()
    }

    async fn run_view(self: Arc<Self>, view: Arc<LiveView>) {
        let coalesce = Duration::from_millis(self.config.coalesce_ms);
        let mut refresh = tokio::time::interval(Duration::from_secs(self.config.refresh_secs));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        let shutdown = self.rt.shutdown.clone();
        let mut last: Option<Instant> = None;
        let mut unwatched_since: Option<Instant> = None;
        loop {
            if view.subscriber_count() == 0 {
                let since = *unwatched_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= GRACE && self.remove_if_unwatched(&view) {
                    return;
                }
            } else {
                unwatched_since = None;
            }
            // Recompute right away when there is something to do (also the first time).
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = view.wake.notified() => {}
                _ = refresh.tick() => view.mark_all(),
                () = tokio::time::sleep(GRACE), if view.subscriber_count() == 0 => continue,
            }
            if view.subscriber_count() == 0 {
                continue;
            }
            if let Some(last) = last {
                let since = last.elapsed();
                if since < coalesce {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(coalesce - since) => {}
                    }
                }
            }
            last = Some(Instant::now());
            let (students, _) = view.compute(&self.rt).await;
            self.stats.computations.fetch_add(1, Ordering::Relaxed);
            if let Some(students) = students {
                self.index_students(&view, students);
            }
        }
    }

    fn remove_if_unwatched(&self, view: &Arc<LiveView>) -> bool {
        let mut inner = self.lock();
        if view.subscriber_count() > 0 {
            return false;
        }
        inner
            .views
            .remove(&(view.course_id.clone(), view.name().to_owned()));
        for list in inner.by_student.values_mut() {
            list.retain(|v| !Arc::ptr_eq(v, view));
        }
        inner.by_student.retain(|_, l| !l.is_empty());
        true
    }

    /// Records which students `view` shows, so their changes reach it.
    fn index_students(&self, view: &Arc<LiveView>, students: Vec<String>) {
        let mut inner = self.lock();
        if !inner.views.values().any(|v| Arc::ptr_eq(v, view)) {
            return;
        }
        for list in inner.by_student.values_mut() {
            list.retain(|v| !Arc::ptr_eq(v, view));
        }
        for s in students {
            inner.by_student.entry(s).or_default().push(view.clone());
        }
        inner.by_student.retain(|_, l| !l.is_empty());
    }

    async fn listen(self: Arc<Self>, mut feed: classpulse_core::pubsub::Subscription) {
        let shutdown = self.rt.shutdown.clone();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                delivery = feed.next() => match delivery {
                    Some(Delivery::Message(bytes)) => {
                        self.stats.change_messages.fetch_add(1, Ordering::Relaxed);
                        self.on_changes(&bytes);
                    }
                    Some(Delivery::Lagged(missed)) => {
                        self.stats.lagged.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(missed, "dashboards fell behind the change feed; recomputing every view");
                        for view in self.lock().views.values() {
                            view.mark_all();
                        }
                    }
                    None => return,
                }
            }
        }
    }

    /// Marks the views that read the changed states.
    pub(crate) fn on_changes(&self, payload: &[u8]) {
        #[derive(Deserialize)]
        struct Change<'a> {
            #[serde(borrow)]
            reducer: Cow<'a, str>,
            #[serde(borrow)]
            key: Cow<'a, str>,
        }
        let inner = self.lock();
        if inner.views.is_empty() {
            return;
        }
        let Ok(changes) = serde_json::from_slice::<Vec<Change<'_>>>(payload) else {
            tracing::warn!("ignoring a malformed state change message");
            return;
        };
        let all_mode = self.rt.roster.mode() == RosterMode::All;
        for change in &changes {
            let subject = change.key.split('|').next().unwrap_or_default();
            if let Some(student) = subject.strip_prefix("student:") {
                let student = unescape(student);
                match inner.by_student.get(student.as_ref()) {
                    Some(views) => {
                        for view in views {
                            if view.reads_student_input(&change.reducer) {
                                view.mark_student(&student);
                            }
                        }
                    }
                    None if all_mode => {
                        // A student the `all` course has not shown yet.
                        for ((course, _), view) in inner.views.iter() {
                            if course == ALL_COURSE {
                                view.mark_roster();
                            }
                        }
                    }
                    None => {}
                }
            } else if let Some(course) = subject.strip_prefix("course:") {
                let course = unescape(course);
                for ((c, _), view) in inner.views.iter() {
                    if *c != course {
                        continue;
                    }
                    if change.reducer == ROSTER_REDUCER {
                        view.mark_roster();
                    } else if view.reads_course_input(&change.reducer) {
                        view.mark_course();
                    }
                }
            }
        }
    }
}

fn unescape(value: &str) -> Cow<'_, str> {
    if value.contains('%') {
        Cow::Owned(value.replace("%7C", "|").replace("%25", "%"))
    } else {
        Cow::Borrowed(value)
    }
}
