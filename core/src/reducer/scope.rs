//! Scopes: how a reducer's state key is derived from an event.
//!
//! The subject of a key (the student, the course) comes from the authenticated context, never
//! from what the client claims; the remaining parts are event fields (`doc_id`, `tab_id`), as in
//! Learning Observer. When a scope's field is missing from an event, the reducer does not run
//! for it (Learning Observer's rule).

use crate::event::Event;
use std::fmt;
use std::sync::Arc;

/// Whom a state belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The authenticated student (`auth.safe_user_id`).
    Student,
    /// A course, named by the event's `course_id` field (checked against the roster by the
    /// router when rosters are configured).
    Course,
    /// One state for the whole installation.
    Global,
}

/// A reducer's scope: a subject and the event fields that further split its state.
///
/// ```
/// use classpulse_core::reducer::{Scope, Subject};
/// assert_eq!(Scope::student_doc().fields(), &["doc_id"]);
/// assert_eq!(Scope::course().subject(), Subject::Course);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    subject: Subject,
    fields: &'static [&'static str],
}

impl Scope {
    /// A scope over `subject` and the given event fields.
    pub const fn new(subject: Subject, fields: &'static [&'static str]) -> Self {
        Scope { subject, fields }
    }

    /// One state per student.
    pub const fn student() -> Self {
        Scope::new(Subject::Student, &[])
    }

    /// One state per student and document (`doc_id`).
    pub const fn student_doc() -> Self {
        Scope::new(Subject::Student, &["doc_id"])
    }

    /// One state per student, document and tab (`doc_id`, `tab_id`).
    pub const fn student_doc_tab() -> Self {
        Scope::new(Subject::Student, &["doc_id", "tab_id"])
    }

    /// One state per course (`course_id`).
    pub const fn course() -> Self {
        Scope::new(Subject::Course, &[])
    }

    /// One state for everything.
    pub const fn global() -> Self {
        Scope::new(Subject::Global, &[])
    }

    /// The subject.
    pub const fn subject(&self) -> Subject {
        self.subject
    }

    /// The event fields in the key.
    pub const fn fields(&self) -> &'static [&'static str] {
        self.fields
    }

    /// Derives the key for `event`, or `None` when the event lacks a scope field (the reducer
    /// then skips the event).
    pub fn key_for(&self, event: &Event<'_>) -> Option<ScopeKey> {
        thread_local! {
            static BUFFER: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(128));
        }
        // Keys are built in a reused buffer, so each costs one allocation (the shared key).
        BUFFER.with(|buffer| {
            let mut key = buffer.borrow_mut();
            key.clear();
            self.write_key(event, &mut key)?;
            Some(ScopeKey(Arc::from(key.as_str())))
        })
    }

    /// Writes the text of the key for `event` into `key` (cleared first); `None` when the
    /// event lacks a scope field. Lets the router look keys up without allocating.
    pub fn write_key(&self, event: &Event<'_>, key: &mut String) -> Option<()> {
        key.clear();
        match self.subject {
            Subject::Student => {
                key.push_str("student:");
                escape_into(key, event.safe_user_id());
            }
            Subject::Course => {
                key.push_str("course:");
                escape_into(key, &event.str_field("course_id")?);
            }
            Subject::Global => key.push_str("global"),
        }
        for field in self.fields {
            key.push('|');
            key.push_str(field);
            key.push(':');
            let raw = event.raw(field)?;
            match raw.as_str() {
                Some(s) => escape_into(key, &s),
                // Learning Observer keys non-strings by their text (`None`, numbers).
                None => escape_into(key, raw.get()),
            }
        }
        Some(())
    }
}

/// The scope part of a state key: `student:tc-testcase-alice|doc_id:doc-alice-1`.
///
/// `%` and `|` inside values are percent-escaped so the parts stay unambiguous.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeKey(Arc<str>);

impl ScopeKey {
    /// Builds a key from its text form (as produced by [`Scope::key_for`] or stored).
    pub fn from_text(text: &str) -> Self {
        ScopeKey(Arc::from(text))
    }

    /// A student's key with no further fields.
    pub fn student(safe_user_id: &str) -> Self {
        let mut key = String::from("student:");
        escape_into(&mut key, safe_user_id);
        ScopeKey(Arc::from(key))
    }

    /// A course's key with no further fields.
    pub fn course(course_id: &str) -> Self {
        let mut key = String::from("course:");
        escape_into(&mut key, course_id);
        ScopeKey(Arc::from(key))
    }

    /// This key with one more field: `student:s1` + (`doc_id`, `d1`) is
    /// `student:s1|doc_id:d1`, the key a [`Scope::student_doc`] reducer uses.
    ///
    /// ```
    /// use classpulse_core::reducer::ScopeKey;
    /// let key = ScopeKey::student("s1").with_field("doc_id", "d|1");
    /// assert_eq!(key.as_str(), "student:s1|doc_id:d%7C1");
    /// ```
    pub fn with_field(&self, name: &str, value: &str) -> ScopeKey {
        let mut key = String::with_capacity(self.0.len() + name.len() + value.len() + 2);
        key.push_str(&self.0);
        key.push('|');
        key.push_str(name);
        key.push(':');
        escape_into(&mut key, value);
        ScopeKey(Arc::from(key))
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject part: `student:<id>`, `course:<id>` or `global`.
    pub fn subject(&self) -> &str {
        self.0.split('|').next().unwrap_or("")
    }

    /// The student's safe user id, for student-subject keys (unescaped).
    pub fn student_id(&self) -> Option<String> {
        self.subject().strip_prefix("student:").map(unescape)
    }

    /// The course id, for course-subject keys (unescaped).
    pub fn course_id(&self) -> Option<String> {
        self.subject().strip_prefix("course:").map(unescape)
    }

    /// The value of a scope field (unescaped).
    pub fn field(&self, name: &str) -> Option<String> {
        self.0.split('|').skip(1).find_map(|part| {
            let (k, v) = part.split_once(':')?;
            (k == name).then(|| unescape(v))
        })
    }
}

impl fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn escape_into(out: &mut String, value: &str) {
    if memchr::memchr2(b'%', b'|', value.as_bytes()).is_none() {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            c => out.push(c),
        }
    }
}

fn unescape(value: &str) -> String {
    if !value.contains('%') {
        return value.to_owned();
    }
    value.replace("%7C", "|").replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::envelope::EnvelopeBody;
    use crate::event::{Auth, Security, Timestamp};
    use std::borrow::Cow;

    fn line(client: &str, user: &str) -> String {
        let auth = Auth {
            providence: Cow::Borrowed("tc"),
            safe_user_id: Cow::Borrowed(user),
            sec: Security::Unauthenticated,
            user_id: Cow::Borrowed(user),
        };
        EnvelopeBody {
            node: "n",
            conn: 1,
            ip: "",
            agent: "",
            auth: &auth,
            source: "s",
            timer: None,
        }
        .line(1, Timestamp::ZERO, client)
    }

    #[test]
    fn keys_come_from_auth_and_fields() {
        let text = line(r#"{"event":"x","doc_id":"d|1","user_id":"mallory"}"#, "a%b");
        let event = crate::event::Event::from_line(text.trim_end()).unwrap();
        let key = Scope::student_doc().key_for(&event).unwrap();
        assert_eq!(key.as_str(), "student:a%25b|doc_id:d%7C1");
        assert_eq!(key.student_id().as_deref(), Some("a%b"));
        assert_eq!(key.field("doc_id").as_deref(), Some("d|1"));
        assert!(Scope::student_doc_tab().key_for(&event).is_none());
        assert!(Scope::course().key_for(&event).is_none());
        assert_eq!(
            Scope::student().key_for(&event).unwrap(),
            ScopeKey::student("a%b")
        );
    }

    #[test]
    fn non_string_fields_key_by_their_text() {
        let text = line(r#"{"event":"x","doc_id":null}"#, "u");
        let event = crate::event::Event::from_line(text.trim_end()).unwrap();
        let key = Scope::student_doc().key_for(&event).unwrap();
        assert_eq!(key.as_str(), "student:u|doc_id:null");
    }
}
