//! One live course view: an aggregator's rows and summary for one course, kept up to date and
//! versioned so that any subscriber, however far behind, is brought to the latest view with
//! one message.
//!
//! Every row and the summary remember the version at which they last changed. A subscriber
//! remembers the version it last received; its next message carries exactly what changed
//! since (or a snapshot, when it has received nothing yet). Nothing is queued per subscriber:
//! a slow or stalled client costs the server one message in flight, and when it catches up it
//! gets the latest view.

use axum::extract::ws::Utf8Bytes;
use classpulse_core::aggregator::{Aggregator, StateReader, StudentRef, SummaryInputs};
use classpulse_core::event::write_json_string;
use classpulse_core::roster::{CourseRoster, Member, Role};
use classpulse_core::runtime::Runtime;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Notify, watch};

/// What must be recomputed.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    /// Every row (first computation, refresh, a lagged change feed).
    pub(crate) all: bool,
    /// The course's roster changed.
    pub(crate) roster: bool,
    /// A course-level input changed.
    pub(crate) course: bool,
    /// These students' inputs changed.
    pub(crate) students: HashSet<String>,
    /// When the first state change since the last computation reached the hub (for the push
    /// latency metric; periodic refreshes leave it unset).
    pub(crate) since: Option<Instant>,
}

/// A row as sent: its JSON text and the version at which it last changed.
#[derive(Debug)]
struct Row {
    text: Arc<str>,
    changed: u64,
}

#[derive(Debug, Default)]
struct ViewState {
    version: u64,
    /// The course: id, name, and its students (staff are not in the view).
    course: CourseRoster,
    course_changed: u64,
    rows: BTreeMap<String, Row>,
    /// The rows as values, for the summary (kept beside `rows`, not rebuilt per summary).
    row_values: BTreeMap<String, Value>,
    removed: BTreeMap<String, u64>,
    summary: Option<(Arc<str>, u64)>,
    /// Tombstones older than this were dropped: a subscriber further behind gets a snapshot.
    floor: u64,
    /// When the state change that led to the current version reached the hub.
    changed_since: Option<Instant>,
}

/// Tombstones kept before the oldest are dropped.
const MAX_TOMBSTONES: usize = 10_000;

/// One course's view of one aggregator.
pub struct LiveView {
    /// The course.
    pub course_id: String,
    /// The aggregator.
    pub aggregator: Arc<dyn Aggregator>,
    student_inputs: HashSet<String>,
    course_inputs: HashSet<String>,
    state: Mutex<ViewState>,
    version: watch::Sender<u64>,
    dirty: Mutex<Dirty>,
    pub(crate) wake: Notify,
    pub(crate) subscribers: AtomicUsize,
    last_message: Mutex<LastMessage>,
}

/// A message for a subscriber, and the version it brings them to.
pub struct Outgoing {
    /// The JSON text (shared: every subscriber brought from the same version by the same
    /// subscription id receives the same bytes).
    pub text: Utf8Bytes,
    /// The view version it reflects.
    pub version: u64,
}

/// The last message built, for the next subscriber in the same place: the dashboards of a
/// course usually all go from one version to the next together, so one serialization serves
/// them all instead of one per socket.
#[derive(Default)]
struct LastMessage {
    sub: String,
    sent: u64,
    version: u64,
    /// `None`: nothing that subscriber would see changed.
    text: Option<Utf8Bytes>,
}

impl LiveView {
    pub(crate) fn new(course_id: &str, aggregator: Arc<dyn Aggregator>) -> LiveView {
        LiveView {
            course_id: course_id.to_owned(),
            student_inputs: aggregator
                .student_inputs()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            course_inputs: aggregator
                .course_inputs()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            aggregator,
            state: Mutex::new(ViewState::default()),
            version: watch::channel(0).0,
            dirty: Mutex::new(Dirty {
                all: true,
                roster: true,
                ..Dirty::default()
            }),
            wake: Notify::new(),
            subscribers: AtomicUsize::new(0),
            last_message: Mutex::new(LastMessage::default()),
        }
    }

    /// The view's name.
    pub fn name(&self) -> &str {
        self.aggregator.name()
    }

    /// Watches the view's version.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// When the state change behind the current version reached the hub (`None` for the first
    /// computation and periodic refreshes).
    pub fn changed_since(&self) -> Option<Instant> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .changed_since
    }

    /// The current version (0 before the first computation).
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    pub(crate) fn reads_student_input(&self, reducer: &str) -> bool {
        self.student_inputs.contains(reducer)
    }

    pub(crate) fn reads_course_input(&self, reducer: &str) -> bool {
        self.course_inputs.contains(reducer)
    }

    fn mark(&self, f: impl FnOnce(&mut Dirty)) {
        f(&mut self.dirty.lock().unwrap_or_else(|e| e.into_inner()));
        self.wake.notify_one();
    }

    pub(crate) fn mark_student(&self, student: &str) {
        self.mark(|d| {
            d.since.get_or_insert_with(Instant::now);
            if !d.all && !d.students.contains(student) {
                d.students.insert(student.to_owned());
            }
        });
    }

    pub(crate) fn mark_roster(&self) {
        self.mark(|d| {
            d.since.get_or_insert_with(Instant::now);
            d.roster = true;
        });
    }

    pub(crate) fn mark_course(&self) {
        self.mark(|d| {
            d.since.get_or_insert_with(Instant::now);
            d.course = true;
        });
    }

    pub(crate) fn mark_all(&self) {
        self.mark(|d| {
            d.all = true;
            d.roster = true;
            d.course = true;
            d.students.clear();
        });
    }

    /// The students the view currently shows (safe user ids).
    pub fn students(&self) -> Vec<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.course.members.keys().cloned().collect()
    }

    /// Recomputes what is dirty. Returns the students now in the view when the roster was
    /// re-read (for the hub's student index), and whether anything changed.
    pub(crate) async fn compute(&self, rt: &Runtime) -> (Option<Vec<String>>, bool) {
        let dirty = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()));
        let now = rt.clock.now();
        // 1. The roster: who is in the view.
        let mut roster_students = None;
        // The course's students, when the roster was re-read.
        let mut new_roster: Option<(String, BTreeMap<String, Member>)> = None;
        let mut to_compute: Vec<(String, Member)> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        {
            if dirty.roster {
                let course = rt.roster.course(&self.course_id).unwrap_or_default();
                let students = course
                    .members
                    .into_iter()
                    .filter(|(_, m)| m.role == Role::Student)
                    .collect();
                new_roster = Some((course.name, students));
            }
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let members = new_roster
                .as_ref()
                .map_or(&state.course.members, |(_, m)| m);
            for (id, member) in members {
                let changed_member = state.course.members.get(id) != Some(member);
                if dirty.all || changed_member || dirty.students.contains(id) {
                    to_compute.push((id.clone(), member.clone()));
                }
            }
            if let Some((_, students)) = &new_roster {
                removed = state
                    .course
                    .members
                    .keys()
                    .filter(|id| !students.contains_key(*id))
                    .cloned()
                    .collect();
                roster_students = Some(students.keys().cloned().collect());
            }
        }
        // 2. The rows, outside any lock (they read the state store).
        let reader = StateReader::new(&*rt.kvs, &rt.registry);
        let mut rows = Vec::with_capacity(to_compute.len());
        for (id, member) in &to_compute {
            let student = StudentRef { id, member, now };
            match self.aggregator.row(student, &reader).await {
                Ok(row) => rows.push((id.clone(), row)),
                Err(e) => {
                    tracing::warn!(view = self.name(), course = %self.course_id, student = %id, error = %e, "row not computed");
                }
            }
        }
        // 3. Course-level inputs (small states, read as JSON).
        let mut course_states = BTreeMap::new();
        for input in self.aggregator.course_inputs() {
            let key = classpulse_core::reducer::ScopeKey::course(&self.course_id);
            if let Ok(Some(v)) = reader.json(input, &key).await {
                course_states.insert(input.to_string(), v);
            }
        }
        // 4. Apply under the lock, with one new version for everything that changed.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let next = state.version + 1;
        let mut changed = false;
        if let Some((name, students)) = new_roster {
            let name = if name.is_empty() {
                self.course_id.clone()
            } else {
                name
            };
            if state.course.name != name {
                state.course.name = name;
                state.course_changed = next;
                changed = true;
            }
            state.course.members = students;
        }
        for id in removed {
            state.row_values.remove(&id);
            if state.rows.remove(&id).is_some() {
                state.removed.insert(id, next);
                changed = true;
            }
        }
        for (id, json) in rows {
            if !state.course.members.contains_key(&id) {
                continue;
            }
            let text: Arc<str> = Arc::from(json.to_string());
            let same = state.rows.get(&id).is_some_and(|r| r.text == text);
            if !same {
                state.removed.remove(&id);
                state.rows.insert(
                    id.clone(),
                    Row {
                        text,
                        changed: next,
                    },
                );
                state.row_values.insert(id, json);
                changed = true;
            }
        }
        if changed || dirty.course || state.summary.is_none() {
            state.course.id.clone_from(&self.course_id);
            let summary = self.aggregator.summary(SummaryInputs {
                course: &state.course,
                rows: &state.row_values,
                course_states: &course_states,
                now,
            });
            let text: Arc<str> = Arc::from(summary.to_string());
            if state.summary.as_ref().is_none_or(|(t, _)| *t != text) {
                state.summary = Some((text, next));
                changed = true;
            }
        }
        if state.removed.len() > MAX_TOMBSTONES {
            let mut by_age: Vec<u64> = state.removed.values().copied().collect();
            by_age.sort_unstable();
            let cut = by_age[by_age.len() - MAX_TOMBSTONES / 2];
            state.removed.retain(|_, v| *v >= cut);
            state.floor = cut;
        }
        // A roster change bumps the version even when the view looks the same, so watchers
        // re-check their rights (a teacher removed from the course stops receiving it).
        if changed || state.version == 0 || dirty.roster {
            state.version = next;
            state.changed_since = dirty.since;
            drop(state);
            self.version.send_replace(next);
            changed = true;
        }
        (roster_students, changed)
    }

    /// The message that brings a subscriber from version `sent` to the current one (`None`
    /// when they are up to date).
    pub fn message_since(&self, sub: &str, sent: u64) -> Option<Outgoing> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.version == 0 || state.version <= sent {
            return None;
        }
        let mut last = self.last_message.lock().unwrap_or_else(|e| e.into_inner());
        if last.version == state.version && last.sent == sent && last.sub == sub {
            return last.text.clone().map(|text| Outgoing {
                text,
                version: state.version,
            });
        }
        let text = Self::build_message(self, &state, sub, sent);
        last.sub.clear();
        last.sub.push_str(sub);
        last.sent = sent;
        last.version = state.version;
        last.text.clone_from(&text);
        text.map(|text| Outgoing {
            text,
            version: state.version,
        })
    }

    /// Serializes what brings `sub` from version `sent` to the current one.
    fn build_message(&self, state: &ViewState, sub: &str, sent: u64) -> Option<Utf8Bytes> {
        let snapshot = sent == 0 || sent < state.floor;
        let mut items = 0usize;
        let mut out = Vec::with_capacity(256 + state.rows.len() * 64);
        out.extend_from_slice(if snapshot {
            b"{\"type\":\"snapshot\",\"sub\":"
        } else {
            b"{\"type\":\"update\",\"sub\":"
        });
        write_json_string(&mut out, sub);
        out.extend_from_slice(b",\"view\":");
        write_json_string(&mut out, self.name());
        out.extend_from_slice(b",\"version\":");
        out.extend_from_slice(state.version.to_string().as_bytes());
        if snapshot || state.course_changed > sent {
            items += 1;
            out.extend_from_slice(b",\"course\":{\"id\":");
            write_json_string(&mut out, &self.course_id);
            out.extend_from_slice(b",\"name\":");
            write_json_string(&mut out, &state.course.name);
            out.push(b'}');
        }
        if snapshot {
            out.extend_from_slice(b",\"title\":");
            write_json_string(&mut out, self.aggregator.title());
        }
        out.extend_from_slice(b",\"students\":{");
        let mut first = true;
        for (id, row) in &state.rows {
            if snapshot || row.changed > sent {
                items += 1;
                if !first {
                    out.push(b',');
                }
                first = false;
                write_json_string(&mut out, id);
                out.push(b':');
                out.extend_from_slice(row.text.as_bytes());
            }
        }
        out.push(b'}');
        if !snapshot {
            out.extend_from_slice(b",\"removed\":[");
            let mut first = true;
            for (id, at) in &state.removed {
                if *at > sent {
                    items += 1;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_json_string(&mut out, id);
                }
            }
            out.push(b']');
        }
        if let Some((summary, at)) = &state.summary
            && (snapshot || *at > sent)
        {
            items += 1;
            out.extend_from_slice(b",\"summary\":");
            out.extend_from_slice(summary.as_bytes());
        }
        out.push(b'}');
        if !snapshot && items == 0 {
            // Newer, but nothing this subscriber would see changed.
            return None;
        }
        Utf8Bytes::try_from(out).ok()
    }

    /// Registers a subscriber; the guard unregisters it.
    pub(crate) fn add_subscriber(self: &Arc<Self>) -> SubscriberGuard {
        self.subscribers.fetch_add(1, Ordering::AcqRel);
        SubscriberGuard(self.clone())
    }

    pub(crate) fn subscriber_count(&self) -> usize {
        self.subscribers.load(Ordering::Acquire)
    }
}

/// Counts a subscriber while alive.
pub(crate) struct SubscriberGuard(Arc<LiveView>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::AcqRel);
        self.0.wake.notify_one();
    }
}
