//! Calendar feed links. A calendar application subscribing to a course's `calendar.ics` cannot
//! sign in, so a member of the course asks for a link that carries who they are: their identity
//! signed with a key derived from the session secret and bound to that course (a link for one
//! course opens no other, and is never a session). The link lasts [`FEED_DAYS`]; membership is
//! checked again at every fetch, so someone who leaves the course loses the feed with it.

use classpulse_core::auth::session::{Principal, SessionError, SessionKeys};

/// How long a feed link lasts: a school year and a bit, since calendar subscriptions outlive
/// terms.
pub const FEED_DAYS: i64 = 400;

fn keys(sessions: &SessionKeys, course: &str) -> SessionKeys {
    sessions.derive(&format!("timetable calendar feed\0{course}"))
}

/// A feed token for `who` and `course`, valid from `now_secs` for [`FEED_DAYS`]. Returns the
/// token and its expiry (Unix seconds).
pub fn issue(
    sessions: &SessionKeys,
    course: &str,
    who: &Principal,
    now_secs: i64,
) -> (String, i64) {
    let exp = now_secs.saturating_add(FEED_DAYS * 86_400);
    let claims = Principal { exp, ..who.clone() };
    (keys(sessions, course).issue(&claims), exp)
}

/// Who a feed token for `course` names.
///
/// # Errors
/// [`SessionError`]: malformed, signed for another course or deployment, or expired.
pub fn verify(
    sessions: &SessionKeys,
    course: &str,
    token: &str,
    now_secs: i64,
) -> Result<Principal, SessionError> {
    keys(sessions, course).verify(token, now_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use classpulse_core::auth::session::{Kind, SessionConfig};

    fn sessions(secret: &str) -> SessionKeys {
        SessionKeys::new(&SessionConfig::default(), Some(secret.into()), None).unwrap()
    }

    fn student() -> Principal {
        Principal {
            sub: "s-a".into(),
            name: "Student A".into(),
            kind: Kind::Student,
            admin: false,
            exp: 0,
        }
    }

    #[test]
    fn a_feed_opens_its_course_only_and_only_until_it_expires() {
        let keys = sessions("the-session-secret-of-a-school");
        let (token, exp) = issue(&keys, "A", &student(), 1_000);
        assert_eq!(exp, 1_000 + FEED_DAYS * 86_400);
        let who = verify(&keys, "A", &token, 2_000).unwrap();
        assert_eq!((who.sub.as_str(), who.kind), ("s-a", Kind::Student));
        assert_eq!(
            verify(&keys, "B", &token, 2_000),
            Err(SessionError::BadSignature)
        );
        assert_eq!(
            verify(&keys, "A", &token, exp + 1),
            Err(SessionError::Expired)
        );
        assert!(keys.verify(&token, 2_000).is_err(), "not a session cookie");
        let other = sessions("another-school-entirely-secret");
        assert!(verify(&other, "A", &token, 2_000).is_err());
    }
}
