//! The roster index: every course's roster in memory, updated by the router as it applies
//! roster events in log order, so that checking "may this event reach this course's
//! reducers?" costs one hash lookup, and gives the same answer on replay.
//!
//! It also answers the web side's questions (which courses does this person belong to, who
//! is in this course) without a trip to the state store.

use super::{ALL_COURSE, CourseRoster, Member, Role, RosterEvent, RosterMode, is_system};
use crate::event::Event;
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Why an event may reach a course's reducers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The server itself (imports, admin commands).
    System,
    /// An event fired by the timer service: its reducer was authorized when it armed it.
    Timer,
    /// A member, with their role.
    Member(Role),
}

/// The role of an event's sender in the course its `course_id` names, as the router found it
/// when it authorized the event (see [`member_role`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberRole(pub Option<Access>);

const ROLE_MEMO: &str = "core.roster.access";

/// For a course-scoped reducer: the sender's access to the event's course (`None` outside
/// the router, e.g. in unit tests that call `reduce` directly).
///
/// ```
/// # use classpulse_core::roster::{member_role, Access, Role};
/// # fn check(event: &classpulse_core::event::Event<'_>) -> bool {
/// matches!(member_role(event), Some(Access::Member(Role::Ta | Role::Teacher)) | Some(Access::System))
/// # }
/// ```
pub fn member_role(event: &Event<'_>) -> Option<Access> {
    event.memo(ROLE_MEMO, || MemberRole(None)).0
}

/// The roster index as a snapshot stores it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RosterSnapshot {
    /// Every course's roster, by course id.
    pub courses: BTreeMap<String, CourseRoster>,
    /// Mode `all`: every student seen, by safe user id, with a display name.
    pub seen: BTreeMap<String, String>,
    /// The highest log sequence number of a roster event applied.
    pub last_roster_seq: u64,
}

/// Every course's roster, in memory.
#[derive(Debug)]
pub struct RosterIndex {
    mode: RosterMode,
    inner: RwLock<Inner>,
    last_roster_seq: AtomicU64,
    /// Bumped on every change (for watchers that cache derived data).
    version: AtomicU64,
    changed: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    courses: HashMap<String, CourseRoster>,
    /// Mode `all`: every student seen, by safe user id, with a display name.
    seen: BTreeMap<String, String>,
}

impl Default for RosterIndex {
    fn default() -> Self {
        RosterIndex::new(RosterMode::Files)
    }
}

impl RosterIndex {
    /// An empty index.
    pub fn new(mode: RosterMode) -> Self {
        RosterIndex {
            mode,
            inner: RwLock::new(Inner::default()),
            last_roster_seq: AtomicU64::new(0),
            version: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    /// The roster mode.
    pub fn mode(&self) -> RosterMode {
        self.mode
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes note of an event the router is about to apply, in log order: roster events
    /// change the index; in mode `all` every student who sends an event joins the `all`
    /// course.
    pub fn observe(&self, event: &Event<'_>) {
        match RosterEvent::from_event(event) {
            Ok(Some(change)) => {
                let mut inner = self.write();
                let changed = inner
                    .courses
                    .entry(change.course_id().to_owned())
                    .or_default()
                    .apply(&change);
                drop(inner);
                self.last_roster_seq
                    .fetch_max(event.position.seq, Ordering::AcqRel);
                if changed {
                    self.bump();
                }
                self.changed.notify_waiters();
            }
            Ok(None) => {
                if self.mode == RosterMode::All && !is_system(event) && event.timer.is_none() {
                    let id = event.safe_user_id();
                    // A course's staff writing (a TA's office-hours page) is not a student.
                    let known = {
                        let inner = self.read();
                        inner.seen.contains_key(id)
                            || inner
                                .courses
                                .values()
                                .any(|c| c.member(id).is_some_and(|m| m.role.is_staff()))
                    };
                    if !known {
                        self.write()
                            .seen
                            .insert(id.to_owned(), display_name(id, &event.auth.user_id));
                        self.bump();
                    }
                }
            }
            Err(_) => {}
        }
    }

    fn bump(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// The whole index, for a snapshot.
    pub fn export(&self) -> RosterSnapshot {
        let inner = self.read();
        RosterSnapshot {
            courses: inner
                .courses
                .iter()
                .map(|(id, c)| (id.clone(), c.clone()))
                .collect(),
            seen: inner.seen.clone(),
            last_roster_seq: self.last_roster_seq(),
        }
    }

    /// Replaces the index with one a snapshot holds (at start-up, before the log's tail is
    /// applied).
    pub fn restore(&self, snapshot: RosterSnapshot) {
        let mut inner = self.write();
        inner.courses = snapshot.courses.into_iter().collect();
        inner.seen = snapshot.seen;
        drop(inner);
        self.last_roster_seq
            .store(snapshot.last_roster_seq, Ordering::Release);
        self.bump();
        self.changed.notify_waiters();
    }

    /// A counter bumped on every change.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The highest log sequence number of a roster event applied so far.
    pub fn last_roster_seq(&self) -> u64 {
        self.last_roster_seq.load(Ordering::Acquire)
    }

    /// Waits until the roster event at `seq` (or a later one) has been applied, or `timeout`.
    pub async fn wait_for_seq(&self, seq: u64, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if self.last_roster_seq() >= seq {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.last_roster_seq() >= seq;
            }
        }
    }

    /// May `event` reach the reducers of `course_id`? `None`: no.
    pub fn authorize(&self, event: &Event<'_>, course_id: &str) -> Option<Access> {
        if is_system(event) {
            return Some(Access::System);
        }
        if event.timer.is_some() {
            return Some(Access::Timer);
        }
        self.role_of(course_id, event.safe_user_id())
            .map(Access::Member)
    }

    /// Authorizes `event` for its `course_id` and records the result for the reducers
    /// ([`member_role`]). Returns whether course-scoped reducers may run.
    pub fn authorize_event(&self, event: &Event<'_>) -> bool {
        let Some(course) = event.str_field("course_id") else {
            return false;
        };
        let access = self.authorize(event, &course);
        let recorded = event.memo(ROLE_MEMO, || MemberRole(access));
        recorded.0.is_some()
    }

    /// The role of `user_id` in `course_id`, if they belong to it. In mode `all`, everybody
    /// who has sent an event is a student of the `all` course.
    pub fn role_of(&self, course_id: &str, user_id: &str) -> Option<Role> {
        let inner = self.read();
        if let Some(m) = inner.courses.get(course_id).and_then(|c| c.member(user_id)) {
            return Some(m.role);
        }
        (self.mode == RosterMode::All && course_id == ALL_COURSE)
            .then(|| inner.seen.contains_key(user_id).then_some(Role::Student))
            .flatten()
    }

    /// A course's roster (for mode `all`'s course: everybody seen). `None`: no such course.
    pub fn course(&self, course_id: &str) -> Option<CourseRoster> {
        let inner = self.read();
        let mut course = inner.courses.get(course_id).cloned();
        if self.mode == RosterMode::All && course_id == ALL_COURSE {
            let all = course.get_or_insert_with(|| CourseRoster {
                id: ALL_COURSE.into(),
                name: "All students".into(),
                members: BTreeMap::new(),
            });
            for (id, name) in &inner.seen {
                all.members.entry(id.clone()).or_insert_with(|| Member {
                    role: Role::Student,
                    name: name.clone(),
                    email: String::new(),
                });
            }
        }
        course
    }

    /// Every course id, sorted.
    pub fn course_ids(&self) -> Vec<String> {
        let inner = self.read();
        let mut ids: Vec<String> = inner.courses.keys().cloned().collect();
        if self.mode == RosterMode::All && !inner.courses.contains_key(ALL_COURSE) {
            ids.push(ALL_COURSE.into());
        }
        ids.sort();
        ids
    }

    /// `(course id, course name, role)` of every course `user_id` belongs to.
    pub fn courses_of(&self, user_id: &str) -> Vec<(String, String, Role)> {
        let mut out: Vec<(String, String, Role)> = self
            .read()
            .courses
            .values()
            .filter_map(|c| {
                c.member(user_id)
                    .map(|m| (c.id.clone(), c.name.clone(), m.role))
            })
            .collect();
        if self.mode == RosterMode::All
            && !out.iter().any(|(id, _, _)| id == ALL_COURSE)
            && self.read().seen.contains_key(user_id)
        {
            out.push((ALL_COURSE.into(), "All students".into(), Role::Student));
        }
        out.sort();
        out
    }

    /// The courses `student` is a student of (ids, sorted).
    pub fn courses_of_student(&self, student: &str) -> Vec<String> {
        self.courses_of(student)
            .into_iter()
            .filter(|(_, _, r)| *r == Role::Student)
            .map(|(id, _, _)| id)
            .collect()
    }
}

/// Learning Observer's name for a student of the `all` roster: the user id without its
/// method prefix (`testcase-alice` → `alice`), else the safe id.
fn display_name(safe_id: &str, user_id: &str) -> String {
    match user_id.split_once('-') {
        Some((_, rest)) if !rest.is_empty() => rest.to_owned(),
        _ => safe_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::ROSTER_SOURCE;
    use crate::roster::tests::line;

    fn apply(index: &RosterIndex, seq: u64, user: Option<&str>, source: &str, client: &str) {
        let text = line(seq, source, user, client);
        index.observe(&Event::from_line(&text).unwrap());
    }

    #[test]
    fn membership_follows_the_log() {
        let index = RosterIndex::default();
        let ev = |seq, user: &str| {
            line(
                seq,
                "org.oh",
                Some(user),
                r#"{"event":"join","course_id":"c1"}"#,
            )
        };
        let before = ev(1, "s1");
        assert!(!index.authorize_event(&Event::from_line(&before).unwrap()));
        apply(
            &index,
            2,
            None,
            ROSTER_SOURCE,
            r#"{"event":"enrolled","course_id":"c1","user_id":"s1"}"#,
        );
        let after = ev(3, "s1");
        let event = Event::from_line(&after).unwrap();
        assert!(index.authorize_event(&event));
        assert_eq!(member_role(&event), Some(Access::Member(Role::Student)));
        assert_eq!(index.last_roster_seq(), 2);
        // A student cannot enroll itself through the roster source.
        apply(
            &index,
            4,
            Some("s9"),
            ROSTER_SOURCE,
            r#"{"event":"enrolled","course_id":"c1","user_id":"s9"}"#,
        );
        assert_eq!(index.role_of("c1", "s9"), None);
        assert_eq!(
            index.courses_of("s1"),
            [("c1".to_owned(), "c1".to_owned(), Role::Student)]
        );
    }

    #[test]
    fn mode_all_holds_every_student_seen() {
        let index = RosterIndex::new(RosterMode::All);
        assert!(index.course(ALL_COURSE).unwrap().members.is_empty());
        apply(
            &index,
            1,
            Some("tc-testcase-ann"),
            "org.x",
            r#"{"event":"keystroke"}"#,
        );
        let all = index.course(ALL_COURSE).unwrap();
        assert_eq!(all.members.len(), 1);
        assert_eq!(
            index.role_of(ALL_COURSE, "tc-testcase-ann"),
            Some(Role::Student)
        );
        assert_eq!(index.course_ids(), ["all"]);
        // A course's TA sending events does not become a student of `all`.
        apply(
            &index,
            2,
            None,
            ROSTER_SOURCE,
            r#"{"event":"staff_added","course_id":"c1","user_id":"tc-testcase-ta","role":"ta"}"#,
        );
        apply(
            &index,
            3,
            Some("tc-testcase-ta"),
            "org.x",
            r#"{"event":"call_next","course_id":"c1"}"#,
        );
        assert_eq!(index.role_of(ALL_COURSE, "tc-testcase-ta"), None);
        assert_eq!(index.course(ALL_COURSE).unwrap().members.len(), 1);
    }
}
