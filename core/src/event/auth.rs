//! The identity attached to every accepted event, in Learning Observer's shape.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// How much we trust an identity (Learning Observer's `sec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Verified (a signed token, a staff session).
    Authenticated,
    /// Claimed by the client without proof (`testcase`, `chromebook`, `hash_identify`).
    Unauthenticated,
    /// Nobody in particular (`guest`).
    None,
}

/// Who sent an event: Learning Observer's auth object
/// (`{"providence","safe_user_id","sec","user_id"}`).
///
/// `Auth<'static>` is the owned form a connection keeps; reducers see it borrowed from the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth<'a> {
    /// How the identity was established (`tc`, `gcu`, `mch`, `guest`, `token`, `timer`).
    #[serde(borrow)]
    pub providence: Cow<'a, str>,
    /// The id every state key hangs off; safe in keys and URLs.
    #[serde(borrow)]
    pub safe_user_id: Cow<'a, str>,
    /// Trust level.
    pub sec: Security,
    /// The user id as the auth method produced it.
    #[serde(borrow)]
    pub user_id: Cow<'a, str>,
}

impl Auth<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> Auth<'static> {
        Auth {
            providence: Cow::Owned(self.providence.into_owned()),
            safe_user_id: Cow::Owned(self.safe_user_id.into_owned()),
            sec: self.sec,
            user_id: Cow::Owned(self.user_id.into_owned()),
        }
    }

    /// The identity the runtime uses for events it makes itself (imports, admin commands).
    pub fn system() -> Auth<'static> {
        Auth {
            providence: Cow::Borrowed("system"),
            safe_user_id: Cow::Borrowed("system"),
            sec: Security::Authenticated,
            user_id: Cow::Borrowed("system"),
        }
    }
}

/// Deserializes an owned [`Auth`] (for states that keep one).
///
/// # Errors
/// When the input is not an auth object.
pub fn deserialize_owned_auth<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Auth<'static>, D::Error> {
    Auth::deserialize(d).map(Auth::into_owned)
}
