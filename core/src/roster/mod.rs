//! Rosters: courses, their staff (teachers, TAs) and their students — as events in the log.
//!
//! There is one source of truth. Roster files named in `config.toml` and CSV imports
//! (`classpulse roster import`) are turned into the roster events needed to reach them
//! ([`import`]), appended to the log with the server's own identity, and reduced like every
//! other event: by the [`RosterReducer`] into one [`CourseRoster`] state per course
//! (`core.roster` / `course:<id>`), and — in log order, by the router — into the in-memory
//! [`RosterIndex`] that authorizes course-scoped reducers. Replaying the log rebuilds both, so
//! who was a member at any point of the log is deterministic.
//!
//! Events (source [`ROSTER_SOURCE`], accepted only from the server itself):
//!
//! | `event` | fields |
//! | --- | --- |
//! | `course_created`, `course_renamed` | `course_id`, `name` |
//! | `enrolled` | `course_id`, `user_id` (the student's safe user id), `name`, `email` |
//! | `disenrolled` | `course_id`, `user_id` |
//! | `staff_added` | `course_id`, `user_id` (the staff account), `name`, `email`, `role` (`teacher` \| `ta`) |
//! | `staff_removed` | `course_id`, `user_id` |

pub mod config;
pub mod csv;
pub mod import;
mod index;

pub use config::{RosterConfig, RosterFile, RosterMode};
pub use index::{Access, MemberRole, RosterIndex, RosterSnapshot, member_role};

use crate::event::Event;
use crate::reducer::{Outcome, Reducer, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The source of roster events.
pub const ROSTER_SOURCE: &str = "org.classpulse.roster";
/// The name of the roster reducer (its states: `core.roster` / `course:<id>`).
pub const ROSTER_REDUCER: &str = "core.roster";
/// The course id of roster mode `all`.
pub const ALL_COURSE: &str = "all";

/// A member's role in a course.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Enrolled student.
    Student,
    /// Teaching assistant: sees the course's dashboards, runs office hours.
    Ta,
    /// Teacher: manages the course and sees everything in it.
    Teacher,
}

impl Role {
    /// Whether the role is a staff role (teacher or TA).
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Ta | Role::Teacher)
    }

    /// `student`, `ta` or `teacher`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Ta => "ta",
            Role::Teacher => "teacher",
        }
    }

    /// Parses `student`, `ta` or `teacher` (case-insensitive).
    pub fn parse(text: &str) -> Option<Role> {
        match text.trim().to_ascii_lowercase().as_str() {
            "student" => Some(Role::Student),
            "ta" => Some(Role::Ta),
            "teacher" => Some(Role::Teacher),
            _ => None,
        }
    }
}

/// One member of a course.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Their role.
    pub role: Role,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// E-mail address (may be empty).
    #[serde(default)]
    pub email: String,
}

/// One course's roster: the state of `core.roster` at `course:<id>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseRoster {
    /// The course id.
    pub id: String,
    /// The course's display name.
    pub name: String,
    /// Members by user id (students: safe user id; staff: account name).
    pub members: BTreeMap<String, Member>,
}

impl CourseRoster {
    /// The member `user_id`, if any.
    pub fn member(&self, user_id: &str) -> Option<&Member> {
        self.members.get(user_id)
    }

    /// The students, by safe user id.
    pub fn students(&self) -> impl Iterator<Item = (&str, &Member)> {
        self.members
            .iter()
            .filter(|(_, m)| m.role == Role::Student)
            .map(|(id, m)| (id.as_str(), m))
    }

    /// The staff, by account name.
    pub fn staff(&self) -> impl Iterator<Item = (&str, &Member)> {
        self.members
            .iter()
            .filter(|(_, m)| m.role.is_staff())
            .map(|(id, m)| (id.as_str(), m))
    }

    /// Applies one roster event; returns whether the roster changed.
    pub fn apply(&mut self, event: &RosterEvent) -> bool {
        if self.id.is_empty() {
            self.id = event.course_id().to_owned();
            if self.name.is_empty() {
                self.name = self.id.clone();
            }
        }
        match event {
            RosterEvent::CourseCreated { name, .. } | RosterEvent::CourseRenamed { name, .. } => {
                if self.name == *name {
                    return false;
                }
                self.name = name.clone();
                true
            }
            RosterEvent::Enrolled {
                user_id,
                name,
                email,
                ..
            } => self.put(user_id, Role::Student, name, email),
            RosterEvent::StaffAdded {
                user_id,
                name,
                email,
                role,
                ..
            } => {
                // A staff event cannot make anyone a student.
                let role = if role.is_staff() { *role } else { Role::Ta };
                self.put(user_id, role, name, email)
            }
            RosterEvent::Disenrolled { user_id, .. } => self.remove(user_id, |r| !r.is_staff()),
            RosterEvent::StaffRemoved { user_id, .. } => self.remove(user_id, Role::is_staff),
        }
    }

    fn put(&mut self, user_id: &str, role: Role, name: &str, email: &str) -> bool {
        let member = Member {
            role,
            name: name.to_owned(),
            email: email.to_owned(),
        };
        if self.members.get(user_id) == Some(&member) {
            return false;
        }
        self.members.insert(user_id.to_owned(), member);
        true
    }

    fn remove(&mut self, user_id: &str, kind: impl Fn(Role) -> bool) -> bool {
        match self.members.get(user_id) {
            Some(m) if kind(m.role) => {
                self.members.remove(user_id);
                true
            }
            _ => false,
        }
    }
}

/// A roster event, as the client object of a log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RosterEvent {
    /// A course appears.
    CourseCreated {
        /// The course.
        course_id: String,
        /// Its name.
        name: String,
    },
    /// A course's name changes.
    CourseRenamed {
        /// The course.
        course_id: String,
        /// Its new name.
        name: String,
    },
    /// A student joins a course (or their name or e-mail changes).
    Enrolled {
        /// The course.
        course_id: String,
        /// The student's safe user id.
        user_id: String,
        /// Display name.
        #[serde(default)]
        name: String,
        /// E-mail.
        #[serde(default)]
        email: String,
    },
    /// A student leaves a course.
    Disenrolled {
        /// The course.
        course_id: String,
        /// The student's safe user id.
        user_id: String,
    },
    /// A teacher or TA joins a course (or their role, name or e-mail changes).
    StaffAdded {
        /// The course.
        course_id: String,
        /// The staff account.
        user_id: String,
        /// `teacher` or `ta`.
        role: Role,
        /// Display name.
        #[serde(default)]
        name: String,
        /// E-mail.
        #[serde(default)]
        email: String,
    },
    /// A teacher or TA leaves a course.
    StaffRemoved {
        /// The course.
        course_id: String,
        /// The staff account.
        user_id: String,
    },
}

impl RosterEvent {
    /// The course the event is about.
    pub fn course_id(&self) -> &str {
        match self {
            RosterEvent::CourseCreated { course_id, .. }
            | RosterEvent::CourseRenamed { course_id, .. }
            | RosterEvent::Enrolled { course_id, .. }
            | RosterEvent::Disenrolled { course_id, .. }
            | RosterEvent::StaffAdded { course_id, .. }
            | RosterEvent::StaffRemoved { course_id, .. } => course_id,
        }
    }

    /// Reads a logged event: `None` when it is not a roster event. Only events the server
    /// made itself (the `system` identity) count; anything else claiming the roster source is
    /// refused, so no client can enroll itself.
    ///
    /// # Errors
    /// A description when the event claims to be a roster event but cannot be one.
    pub fn from_event(event: &Event<'_>) -> Result<Option<RosterEvent>, String> {
        if event.source() != ROSTER_SOURCE {
            return Ok(None);
        }
        if !is_system(event) {
            return Err(format!(
                "roster event from {:?} refused: only the server writes rosters",
                event.safe_user_id()
            ));
        }
        let mut json = Vec::with_capacity(256);
        event.fields.write_json(&mut json);
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| format!("malformed roster event: {e}"))
    }
}

/// Whether an event was made by the server itself (imports, admin commands).
pub fn is_system(event: &Event<'_>) -> bool {
    event.auth.providence == "system" && event.conn == 0
}

/// The reducer keeping each course's roster (`core.roster`, one state per course).
#[derive(Debug, Clone, Copy, Default)]
pub struct RosterReducer;

impl Reducer for RosterReducer {
    type State = CourseRoster;

    fn name(&self) -> &str {
        ROSTER_REDUCER
    }

    fn sources(&self) -> &[&str] {
        &[ROSTER_SOURCE]
    }

    fn scope(&self) -> Scope {
        Scope::course()
    }

    fn reduce(&self, state: &mut CourseRoster, event: &Event<'_>) -> Outcome {
        match RosterEvent::from_event(event) {
            Ok(Some(change)) => Outcome::from_changed(state.apply(&change)),
            Ok(None) => Outcome::unchanged(),
            Err(reason) => Outcome::error(reason),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::envelope::EnvelopeBody;
    use crate::event::{Auth, Security, Timestamp};
    use std::borrow::Cow;

    /// A log line for `client` from `user` (`None`: the server itself).
    pub(crate) fn line(seq: u64, source: &str, user: Option<&str>, client: &str) -> String {
        let auth = match user {
            None => Auth::system(),
            Some(u) => Auth {
                providence: Cow::Borrowed("tc"),
                safe_user_id: Cow::Owned(u.to_owned()),
                sec: Security::Unauthenticated,
                user_id: Cow::Owned(u.to_owned()),
            },
        };
        EnvelopeBody {
            node: "n",
            conn: if user.is_some() { 1 } else { 0 },
            ip: "",
            agent: "",
            auth: &auth,
            source,
            timer: None,
        }
        .line(seq, Timestamp::from_millis(1000 * seq as i64), client)
    }

    #[test]
    fn roster_events_build_the_course() {
        let r = RosterReducer;
        let mut state = CourseRoster::default();
        let events = [
            r#"{"event":"course_created","course_id":"c1","name":"English 9"}"#,
            r#"{"event":"enrolled","course_id":"c1","user_id":"s1","name":"Ann","email":"a@x"}"#,
            r#"{"event":"staff_added","course_id":"c1","user_id":"t1","role":"teacher","name":"T"}"#,
            r#"{"event":"enrolled","course_id":"c1","user_id":"s2","name":"Bo"}"#,
            r#"{"event":"disenrolled","course_id":"c1","user_id":"s2"}"#,
            // A staff removal does not remove a student, and vice versa.
            r#"{"event":"staff_removed","course_id":"c1","user_id":"s1"}"#,
            r#"{"event":"disenrolled","course_id":"c1","user_id":"t1"}"#,
        ];
        for (i, e) in events.iter().enumerate() {
            let text = line(i as u64 + 1, ROSTER_SOURCE, None, e);
            let event = Event::from_line(&text).unwrap();
            assert!(r.reduce(&mut state, &event).error_reason().is_none());
        }
        assert_eq!(state.id, "c1");
        assert_eq!(state.name, "English 9");
        assert_eq!(
            state.students().map(|(id, _)| id).collect::<Vec<_>>(),
            ["s1"]
        );
        assert_eq!(state.member("t1").unwrap().role, Role::Teacher);
        assert_eq!(state.member("s1").unwrap().email, "a@x");
    }

    #[test]
    fn clients_cannot_write_rosters() {
        let text = line(
            1,
            ROSTER_SOURCE,
            Some("mallory"),
            r#"{"event":"staff_added","course_id":"c1","user_id":"mallory","role":"teacher"}"#,
        );
        let event = Event::from_line(&text).unwrap();
        let mut state = CourseRoster::default();
        let outcome = RosterReducer.reduce(&mut state, &event);
        assert!(outcome.error_reason().unwrap().contains("refused"));
        assert!(state.members.is_empty());
    }
}
