//! The student's e-mail and id (Learning Observer's `student_profile`, per student).
//!
//! The e-mail is the extension's `chrome_identity.email`, the id the authenticated safe user
//! id. Learning Observer compares the stored state against a `user_id` it never stores, so it
//! rewrites the profile on every event that has an id; the resulting state is the same as
//! "the latest e-mail and id", which is what we keep.

use crate::client::ClientFields;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"email", "google_id"}` once an event has been seen; `null` before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StudentProfile(pub Option<Profile>);

/// The stored form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// `chrome_identity.email` of the latest event (`null` when it had none).
    pub email: Option<String>,
    /// The student's safe user id.
    pub google_id: Option<String>,
}

impl StudentProfile {
    /// Applies one event of the student `safe_user_id`: the e-mail is the event's
    /// `chrome_identity.email`. Returns whether the state changed.
    pub fn record_event(&mut self, client: &impl ClientFields, safe_user_id: Option<&str>) -> bool {
        let email = match client.member("chrome_identity", "email") {
            Some(Value::String(email)) => Some(email),
            _ => None,
        };
        if let Some(profile) = &self.0
            && profile.email == email
            && profile.google_id.as_deref() == safe_user_id
        {
            return false;
        }
        self.record(email, safe_user_id.map(str::to_owned))
    }

    /// Records an event's e-mail and id. Returns whether the state changed.
    pub fn record(&mut self, email: Option<String>, id: Option<String>) -> bool {
        let stored_email = self.0.as_ref().and_then(|p| p.email.as_deref());
        if email.as_deref() == stored_email && id.is_none() {
            return false;
        }
        let profile = Profile {
            email,
            google_id: id,
        };
        if self.0.as_ref() == Some(&profile) {
            return false;
        }
        self.0 = Some(profile);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_identity() {
        let mut p = StudentProfile::default();
        assert!(p.record(None, Some("tc-a".into())));
        assert!(!p.record(None, Some("tc-a".into())));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"email":null,"google_id":"tc-a"}"#
        );
        assert!(p.record(Some("a@x.org".into()), Some("tc-a".into())));
        // No id and the same e-mail: Learning Observer leaves the state alone.
        assert!(!p.record(Some("a@x.org".into()), None));
        // No id and another e-mail: rewritten, id dropped.
        assert!(p.record(Some("b@x.org".into()), None));
        assert_eq!(p.0.unwrap().google_id, None);
    }
}
