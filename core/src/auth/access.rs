//! Rights: what a signed-in person may see, from their session and the roster.
//!
//! | who | may |
//! | --- | --- |
//! | administrator | everything: every course's dashboards and students, the admin API |
//! | teacher of a course | that course's dashboards and its students' state |
//! | TA of a course | the same (and, with office hours, run its queue) |
//! | student | their own state and page, nothing of other students |
//!
//! In roster mode `all`, every staff account teaches the `all` course. `docs/security.md`
//! says the same for people.

use super::session::Principal;
use crate::roster::{ALL_COURSE, Role, RosterIndex, RosterMode};
use serde::Serialize;

/// A person's standing in one course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CourseAccess {
    /// An administrator (not necessarily on the roster).
    Admin,
    /// A teacher of the course.
    Teacher,
    /// A TA of the course.
    Ta,
    /// A student of the course.
    Student,
}

impl CourseAccess {
    /// Whether this standing may watch the course's dashboards.
    pub fn is_staff(self) -> bool {
        !matches!(self, CourseAccess::Student)
    }
}

/// `principal`'s standing in `course_id` (`None`: no business there).
pub fn course_access(
    principal: &Principal,
    course_id: &str,
    roster: &RosterIndex,
) -> Option<CourseAccess> {
    let exists = roster.course(course_id).is_some();
    if principal.is_staff() && principal.admin && exists {
        return Some(CourseAccess::Admin);
    }
    if principal.is_staff() && roster.mode() == RosterMode::All && course_id == ALL_COURSE {
        return Some(CourseAccess::Teacher);
    }
    match roster.role_of(course_id, &principal.sub)? {
        Role::Teacher if principal.is_staff() => Some(CourseAccess::Teacher),
        Role::Ta if principal.is_staff() => Some(CourseAccess::Ta),
        Role::Student if !principal.is_staff() => Some(CourseAccess::Student),
        // A staff role on the roster with a student session (or the reverse) is nothing.
        _ => None,
    }
}

/// Whether `principal` may watch `course_id`'s dashboards.
pub fn can_watch(principal: &Principal, course_id: &str, roster: &RosterIndex) -> bool {
    course_access(principal, course_id, roster).is_some_and(CourseAccess::is_staff)
}

/// Whether `principal` may read `student`'s state: the student, an administrator, or staff of
/// a course the student is enrolled in.
pub fn can_read_student(principal: &Principal, student: &str, roster: &RosterIndex) -> bool {
    if !principal.is_staff() {
        return principal.sub == student;
    }
    if principal.admin {
        return true;
    }
    roster
        .courses_of_student(student)
        .iter()
        .any(|course| can_watch(principal, course, roster))
}

/// The courses `principal` may open, as `(id, name, standing)`, sorted by name.
pub fn visible_courses(
    principal: &Principal,
    roster: &RosterIndex,
) -> Vec<(String, String, CourseAccess)> {
    let mut out: Vec<(String, String, CourseAccess)> = roster
        .course_ids()
        .into_iter()
        .filter_map(|id| {
            let access = course_access(principal, &id, roster)?;
            let name = roster.course(&id).map(|c| c.name).unwrap_or_default();
            Some((id, name, access))
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::session::Kind;
    use crate::event::Event;
    use crate::roster::ROSTER_SOURCE;
    use crate::roster::tests::line;

    fn person(sub: &str, kind: Kind, admin: bool) -> Principal {
        Principal {
            sub: sub.into(),
            name: String::new(),
            kind,
            admin,
            exp: i64::MAX,
        }
    }

    #[test]
    fn rights_follow_the_roster() {
        let roster = RosterIndex::default();
        for (seq, client) in [
            r#"{"event":"staff_added","course_id":"a","user_id":"t1","role":"teacher"}"#,
            r#"{"event":"staff_added","course_id":"a","user_id":"ta1","role":"ta"}"#,
            r#"{"event":"enrolled","course_id":"a","user_id":"s1"}"#,
            r#"{"event":"enrolled","course_id":"b","user_id":"s2"}"#,
        ]
        .iter()
        .enumerate()
        {
            let text = line(seq as u64 + 1, ROSTER_SOURCE, None, client);
            roster.observe(&Event::from_line(&text).unwrap());
        }
        let t1 = person("t1", Kind::Staff, false);
        assert!(can_watch(&t1, "a", &roster));
        assert!(!can_watch(&t1, "b", &roster));
        assert!(can_read_student(&t1, "s1", &roster));
        assert!(!can_read_student(&t1, "s2", &roster));
        assert!(can_watch(&person("ta1", Kind::Staff, false), "a", &roster));
        let s1 = person("s1", Kind::Student, false);
        assert!(!can_watch(&s1, "a", &roster));
        assert!(can_read_student(&s1, "s1", &roster));
        assert!(!can_read_student(&s1, "s2", &roster));
        // A student session named like a teacher is still a student.
        assert!(!can_watch(
            &person("t1", Kind::Student, false),
            "a",
            &roster
        ));
        let admin = person("root", Kind::Staff, true);
        assert_eq!(visible_courses(&admin, &roster).len(), 2);
        assert_eq!(visible_courses(&t1, &roster).len(), 1);
        assert!(!can_watch(&admin, "nonexistent", &roster));
    }
}
