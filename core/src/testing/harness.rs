//! [`ReducerHarness`]: a reducer's test in a few lines, on the runtime's own rules.
//!
//! The harness feeds a reducer events at given server times, the way the router does: each
//! event is written as an event-log line and read back (so the reducer sees exactly what it sees
//! live and on replay), only events of the reducer's sources reach it, the state key comes from
//! the reducer's [`Scope`] (an event lacking a scope field is skipped), course-scoped reducers
//! see only events from members of the course, and effects are carried out as the runtime
//! carries them out: timers are armed, re-armed and cancelled in a timer table, and fire — with
//! the identity of the event that armed them and their id in the envelope — when the test lets
//! time pass. Nothing here is a mock of the runtime's logic: it calls the same
//! [`Scope::key_for`], [`RosterIndex`] and envelope code.
//!
//! What it does not do: run event adapters (give the event the fields an adapter would add), or
//! serialize states between events (the memory store does not either).

use crate::event::envelope::EnvelopeBody;
use crate::event::{Auth, Event, GENERIC_SOURCE, Security, Timestamp};
use crate::reducer::{Effect, Outcome, Recipient, Reducer, ScopeKey, Subject, TimerRequest};
use crate::roster::{ROSTER_SOURCE, RosterEvent, RosterIndex, RosterMode};
use crate::router::ANY_SOURCE;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A point in test time: seconds after [`ReducerHarness::START`] (an integer or a float).
pub trait TestTime: Copy {
    /// Microseconds after the start.
    fn micros(self) -> i64;
}

impl TestTime for i32 {
    fn micros(self) -> i64 {
        i64::from(self) * 1_000_000
    }
}

impl TestTime for u32 {
    fn micros(self) -> i64 {
        i64::from(self) * 1_000_000
    }
}

impl TestTime for i64 {
    fn micros(self) -> i64 {
        self * 1_000_000
    }
}

impl TestTime for u64 {
    fn micros(self) -> i64 {
        self as i64 * 1_000_000
    }
}

impl TestTime for f64 {
    fn micros(self) -> i64 {
        (self * 1e6).round() as i64
    }
}

/// A timer the reducer armed and that has not fired or been cancelled.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    request: TimerRequest,
    auth: Auth<'static>,
}

/// Drives one reducer through events and time, keeping its states and pending timers.
///
/// ```
/// use classpulse_core::event::Event;
/// use classpulse_core::reducer::{Outcome, Reducer, Scope};
/// use classpulse_core::testing::ReducerHarness;
/// use serde_json::json;
///
/// /// Counts keystrokes per student.
/// struct Keystrokes;
/// impl Reducer for Keystrokes {
///     type State = u64;
///     fn name(&self) -> &str { "example.keystrokes" }
///     fn sources(&self) -> &[&str] { &["org.example.typing"] }
///     fn scope(&self) -> Scope { Scope::student() }
///     fn reduce(&self, count: &mut u64, event: &Event<'_>) -> Outcome {
///         if event.kind() != "keystroke" { return Outcome::unchanged(); }
///         *count += 1;
///         Outcome::changed()
///     }
/// }
///
/// let mut h = ReducerHarness::new(Keystrokes);
/// h.as_student("ann").send(0, json!({"event": "keystroke"}));
/// h.send(2, json!({"event": "keystroke"}));
/// assert!(!h.send(3, json!({"event": "scroll"})).is_changed());
/// h.as_student("bo").send(4, json!({"event": "keystroke"}));
/// assert_eq!(h.student("ann"), Some(&2));
/// assert_eq!(h.state(), &1); // the state the last event went to: bo's
/// ```
pub struct ReducerHarness<R: Reducer> {
    reducer: R,
    states: BTreeMap<ScopeKey, R::State>,
    roster: RosterIndex,
    timers: BTreeMap<String, Pending>,
    auth: Auth<'static>,
    source: String,
    conn: u64,
    seq: u64,
    now: Timestamp,
    last_key: Option<ScopeKey>,
    last: Outcome,
    notifications: Vec<(Recipient, Value)>,
}

impl<R: Reducer> ReducerHarness<R> {
    /// Test time 0: 2023-11-14T22:13:20Z (1,700,000,000 s after the Unix epoch).
    pub const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    /// A harness over `reducer`, sending as student `s1` from the reducer's first source.
    pub fn new(reducer: R) -> Self {
        let source = reducer
            .sources()
            .iter()
            .find(|s| **s != ANY_SOURCE)
            .copied()
            .unwrap_or(GENERIC_SOURCE)
            .to_owned();
        let mut harness = ReducerHarness {
            reducer,
            states: BTreeMap::new(),
            roster: RosterIndex::new(RosterMode::Files),
            timers: BTreeMap::new(),
            auth: Auth::system(),
            source,
            conn: 1,
            seq: 0,
            now: Self::START,
            last_key: None,
            last: Outcome::unchanged(),
            notifications: Vec::new(),
        };
        harness.as_student("s1");
        harness
    }

    /// The reducer.
    pub fn reducer(&self) -> &R {
        &self.reducer
    }

    /// Later events come from the student (or staff account) `safe_user_id`, authenticated,
    /// over a socket.
    pub fn as_student(&mut self, safe_user_id: &str) -> &mut Self {
        self.auth = Auth {
            providence: Cow::Borrowed("test"),
            safe_user_id: Cow::Owned(safe_user_id.to_owned()),
            sec: Security::Authenticated,
            user_id: Cow::Owned(safe_user_id.to_owned()),
        };
        self.conn = 1;
        self
    }

    /// Later events come from the server itself (imports, admin commands: see
    /// [`crate::roster::is_system`]).
    pub fn as_system(&mut self) -> &mut Self {
        self.auth = Auth::system();
        self.conn = 0;
        self
    }

    /// Later events come from `source` (default: the reducer's first source).
    pub fn source(&mut self, source: &str) -> &mut Self {
        self.source = source.to_owned();
        self
    }

    /// Puts `user` in `course` with `role`, through a roster event, so course-scoped reducers
    /// see their events (the router runs them only for the course's members). The event is
    /// not sent to the reducer under test.
    pub fn member(&mut self, course: &str, user: &str, role: crate::roster::Role) -> &mut Self {
        let change = if role.is_staff() {
            RosterEvent::StaffAdded {
                course_id: course.into(),
                user_id: user.into(),
                role,
                name: user.into(),
                email: String::new(),
            }
        } else {
            RosterEvent::Enrolled {
                course_id: course.into(),
                user_id: user.into(),
                name: user.into(),
                email: String::new(),
            }
        };
        let client = serde_json::to_value(&change).expect("roster events serialize");
        let line = self.line(&Auth::system(), 0, ROSTER_SOURCE, None, self.now, &client);
        let event = Event::from_line(line.trim_end()).expect("the harness writes log lines");
        self.roster.observe(&event);
        self
    }

    /// Sends `event` (a JSON object: the client's event, `event` naming its type) at `at`
    /// seconds of test time, first firing the timers due by then. Returns what the reducer
    /// returned ([`Outcome::unchanged`] when the event did not reach it: another source, a
    /// missing scope field, not a member of the course).
    ///
    /// # Panics
    /// When `at` is earlier than the previous event (server time never goes back) or `event`
    /// is not an object.
    pub fn send(&mut self, at: impl TestTime, event: Value) -> &Outcome {
        let time = Timestamp::from_micros(Self::START.as_micros() + at.micros());
        self.advance_to(time);
        let (auth, conn, source) = (self.auth.clone(), self.conn, self.source.clone());
        self.deliver(&auth, conn, &source, None, time, &event);
        &self.last
    }

    /// Lets time pass until `at` seconds: every timer due by then fires, in order of due
    /// time, as an event through the reducer. Returns how many fired.
    pub fn advance(&mut self, at: impl TestTime) -> usize {
        self.advance_to(Timestamp::from_micros(
            Self::START.as_micros() + at.micros(),
        ))
    }

    fn advance_to(&mut self, time: Timestamp) -> usize {
        assert!(
            time >= self.now,
            "test time goes back: {time} is before {}",
            self.now
        );
        let mut fired = 0;
        while let Some((id, at)) = self
            .timers
            .iter()
            .filter(|(_, p)| p.request.at <= time)
            .min_by_key(|(id, p)| (p.request.at, (*id).clone()))
            .map(|(id, p)| (id.clone(), p.request.at))
        {
            // As in the router: a fired timer leaves the table before its event's effects, so
            // the reducer may re-arm the same id.
            let pending = self.timers.remove(&id).expect("found above");
            let source = pending
                .request
                .event
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or(GENERIC_SOURCE)
                .to_owned();
            let at = at.max(self.now);
            self.deliver(
                &pending.auth,
                0,
                &source,
                Some(&id),
                at,
                &pending.request.event,
            );
            fired += 1;
        }
        self.now = time;
        fired
    }

    fn line(
        &mut self,
        auth: &Auth<'_>,
        conn: u64,
        source: &str,
        timer: Option<&str>,
        time: Timestamp,
        client: &Value,
    ) -> String {
        assert!(client.is_object(), "an event is a JSON object: {client}");
        self.seq += 1;
        EnvelopeBody {
            node: "test",
            conn,
            ip: "",
            agent: "",
            auth,
            source,
            timer,
        }
        .line(self.seq, time, &client.to_string())
    }

    fn deliver(
        &mut self,
        auth: &Auth<'_>,
        conn: u64,
        source: &str,
        timer: Option<&str>,
        time: Timestamp,
        client: &Value,
    ) {
        self.now = time;
        let line = self.line(auth, conn, source, timer, time, client);
        let event = Event::from_line(line.trim_end()).expect("the harness writes log lines");
        self.roster.observe(&event);
        self.last = Outcome::unchanged();
        self.notifications.clear();
        let sources = self.reducer.sources();
        if !sources.iter().any(|s| *s == ANY_SOURCE || *s == source) {
            return;
        }
        let scope = self.reducer.scope();
        if scope.subject() == Subject::Course && !self.roster.authorize_event(&event) {
            return;
        }
        let Some(key) = scope.key_for(&event) else {
            return;
        };
        let state = self.states.entry(key.clone()).or_default();
        let outcome = self.reducer.reduce(state, &event);
        self.last_key = Some(key);
        for effect in outcome.effects() {
            match effect {
                Effect::Timer(request) => {
                    self.timers.insert(
                        request.id.clone(),
                        Pending {
                            request: request.clone(),
                            auth: event.auth.clone().into_owned(),
                        },
                    );
                }
                Effect::CancelTimer { id } => {
                    self.timers.remove(id);
                }
                Effect::Notify { to, message } => {
                    self.notifications.push((to.clone(), message.clone()));
                }
            }
        }
        self.last = outcome;
    }

    /// What the reducer returned for the last event (or fired timer).
    pub fn outcome(&self) -> &Outcome {
        &self.last
    }

    /// The notifications the last event asked for.
    pub fn notifications(&self) -> &[(Recipient, Value)] {
        &self.notifications
    }

    /// The state the last event that reached the reducer went to.
    ///
    /// # Panics
    /// When no event has reached the reducer yet.
    pub fn state(&self) -> &R::State {
        let key = self
            .last_key
            .as_ref()
            .expect("no event has reached the reducer yet");
        &self.states[key]
    }

    /// The state at `key`, if an event reached it.
    pub fn state_at(&self, key: &ScopeKey) -> Option<&R::State> {
        self.states.get(key)
    }

    /// A student's state (for [`crate::reducer::Scope::student`] reducers).
    pub fn student(&self, safe_user_id: &str) -> Option<&R::State> {
        self.state_at(&ScopeKey::student(safe_user_id))
    }

    /// A course's state (for [`crate::reducer::Scope::course`] reducers).
    pub fn course(&self, course_id: &str) -> Option<&R::State> {
        self.state_at(&ScopeKey::course(course_id))
    }

    /// Every state, by key.
    pub fn states(&self) -> &BTreeMap<ScopeKey, R::State> {
        &self.states
    }

    /// The pending timers, soonest first.
    pub fn timers(&self) -> Vec<&TimerRequest> {
        let mut timers: Vec<_> = self.timers.values().map(|p| &p.request).collect();
        timers.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        timers
    }

    /// A pending timer by id.
    pub fn timer(&self, id: &str) -> Option<&TimerRequest> {
        self.timers.get(id).map(|p| &p.request)
    }

    /// Seconds of test time at `time` (to compare a timer's `at`).
    pub fn secs(&self, time: Timestamp) -> f64 {
        (time.as_micros() - Self::START.as_micros()) as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reducer::Scope;
    use crate::roster::{Role, member_role};
    use serde_json::json;

    /// `open` arms a reminder 60 s later (re-arming replaces it); `close` cancels it; the
    /// fired `remind` counts.
    struct Reminder;

    #[derive(Default, serde::Serialize, serde::Deserialize)]
    struct Reminded {
        opens: u32,
        reminded: u32,
        timer_user: String,
    }

    impl Reducer for Reminder {
        type State = Reminded;
        fn name(&self) -> &str {
            "t.reminder"
        }
        fn sources(&self) -> &[&str] {
            &["t.src"]
        }
        fn scope(&self) -> Scope {
            Scope::student()
        }
        fn reduce(&self, s: &mut Reminded, e: &Event<'_>) -> Outcome {
            let id = format!("remind.{}", e.safe_user_id());
            match &*e.kind() {
                "open" => {
                    s.opens += 1;
                    Outcome::changed().timer(TimerRequest {
                        id,
                        at: e.time.plus(std::time::Duration::from_secs(60)),
                        event: json!({"event": "remind", "source": "t.src"}),
                    })
                }
                "close" => Outcome::changed().with(Effect::CancelTimer { id }),
                "remind" if e.timer.is_some() => {
                    s.reminded += 1;
                    s.timer_user = e.safe_user_id().to_owned();
                    Outcome::changed()
                        .notify(Recipient::Student(s.timer_user.clone()), json!({"n": 1}))
                }
                _ => Outcome::unchanged(),
            }
        }
    }

    #[test]
    fn timers_arm_rearm_cancel_and_fire_as_the_armer() {
        let mut h = ReducerHarness::new(Reminder);
        h.as_student("ann").send(0, json!({"event": "open"}));
        assert_eq!(h.secs(h.timers()[0].at), 60.0);
        h.send(30, json!({"event": "open"}));
        assert_eq!(h.timers().len(), 1, "re-arming replaces");
        assert_eq!(h.advance(89), 0);
        assert_eq!(h.advance(90), 1);
        assert_eq!(h.state().reminded, 1);
        assert_eq!(h.state().timer_user, "ann", "fired as the armer");
        assert_eq!(h.notifications().len(), 1);
        h.send(100, json!({"event": "open"}));
        h.send(110, json!({"event": "close"}));
        assert!(h.timers().is_empty());
        assert_eq!(h.advance(1000), 0);
        // Another source and another student.
        h.source("other");
        assert!(!h.send(1001, json!({"event": "open"})).is_changed());
        h.source("t.src")
            .as_student("bo")
            .send(1002, json!({"event": "open"}));
        assert_eq!(h.student("bo").unwrap().opens, 1);
        assert_eq!(h.student("ann").unwrap().opens, 3);
    }

    /// Records the role the roster index gave each event.
    struct Roles;

    impl Reducer for Roles {
        type State = Vec<String>;
        fn name(&self) -> &str {
            "t.roles"
        }
        fn sources(&self) -> &[&str] {
            &["t.src"]
        }
        fn scope(&self) -> Scope {
            Scope::course()
        }
        fn reduce(&self, s: &mut Vec<String>, e: &Event<'_>) -> Outcome {
            s.push(format!("{:?}", member_role(e)));
            Outcome::changed()
        }
    }

    #[test]
    fn course_reducers_see_members_only() {
        let mut h = ReducerHarness::new(Roles);
        h.member("C1", "ta1", Role::Ta);
        h.as_student("ann")
            .send(0, json!({"event": "x", "course_id": "C1"}));
        assert!(h.course("C1").is_none(), "not a member yet");
        h.member("C1", "ann", Role::Student);
        h.send(1, json!({"event": "x", "course_id": "C1"}));
        h.as_student("ta1")
            .send(2, json!({"event": "x", "course_id": "C1"}));
        h.send(3, json!({"event": "x"}));
        assert_eq!(h.course("C1").unwrap().len(), 2, "no course_id: skipped");
        assert!(h.course("C1").unwrap()[1].contains("Ta"));
    }

    #[test]
    #[should_panic(expected = "test time goes back")]
    fn time_never_goes_back() {
        let mut h = ReducerHarness::new(Roles);
        h.send(5, json!({"event": "x"}));
        h.send(4, json!({"event": "x"}));
    }
}
