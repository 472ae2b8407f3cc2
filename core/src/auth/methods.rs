//! The event auth methods and their configuration.

use super::token;
use crate::event::{Auth, Lookup, Security};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt::Write as _;

/// An event auth method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `user_id` → `testcase-<id>`, safe id `tc-testcase-<id>` (insecure; for tests and demos).
    #[serde(alias = "testcase_auth")]
    Testcase,
    /// `chrome_identity.id` → `gc-<id>` (insecure: the browser's claim).
    Chromebook,
    /// `hash` → `hi-<hash>`, safe id `mch-hi-<hash>` (insecure).
    HashIdentify,
    /// Anyone: a guest id from the `guest_id` cookie, or a new one (insecure).
    Guest,
    /// A signed token in `token` (secure).
    Token,
}

impl Method {
    /// Whether the method trusts the client's word.
    pub fn is_insecure(self) -> bool {
        !matches!(self, Method::Token)
    }
}

/// `[auth]` in `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Event auth methods, tried in this order until one yields an identity:
    /// `testcase`, `chromebook`, `hash_identify`, `guest`, `token`.
    pub methods: Vec<Method>,
    /// With `token` configured, the insecure methods are refused unless this is true.
    pub allow_insecure_auth: bool,
    /// Secret that signs student tokens (and, unless `sessions.secret` is set, sessions).
    /// The environment variable `CLASSPULSE_TOKEN_SECRET` overrides it.
    pub token_secret: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            methods: vec![Method::Chromebook, Method::Testcase],
            allow_insecure_auth: false,
            token_secret: None,
        }
    }
}

/// A configuration the authenticator cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// No methods.
    #[error("auth.methods is empty: no client could ever authenticate")]
    NoMethods,
    /// `token` without a secret.
    #[error(
        "auth.methods includes \"token\" but no auth.token_secret (or CLASSPULSE_TOKEN_SECRET) is set"
    )]
    NoSecret,
    /// Insecure methods next to `token`.
    #[error(
        "auth.methods mixes \"token\" with insecure methods ({0}); remove them or set auth.allow_insecure_auth = true"
    )]
    InsecureWithToken(String),
    /// The secret is too short to be safe.
    #[error("auth.token_secret must be at least 16 bytes")]
    WeakSecret,
}

/// The result of trying to authenticate on one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// An identity.
    Authenticated(Auth<'static>),
    /// No method applies yet (the event carries nothing to go on).
    NotYet,
    /// A credential was presented and is bad; the client is told why.
    Refused(String),
}

/// Runs the configured methods.
#[derive(Debug, Clone)]
pub struct Authenticator {
    methods: Vec<Method>,
    secret: Option<Vec<u8>>,
}

impl Authenticator {
    /// Validates `config` (with the environment's secret, if given) into an authenticator.
    ///
    /// # Errors
    /// [`AuthConfigError`] for unusable settings.
    pub fn new(config: &AuthConfig, env_secret: Option<String>) -> Result<Self, AuthConfigError> {
        if config.methods.is_empty() {
            return Err(AuthConfigError::NoMethods);
        }
        let secret = env_secret
            .filter(|s| !s.is_empty())
            .or_else(|| config.token_secret.clone().filter(|s| !s.is_empty()));
        if let Some(s) = &secret
            && s.len() < 16
        {
            return Err(AuthConfigError::WeakSecret);
        }
        if config.methods.contains(&Method::Token) {
            if secret.is_none() {
                return Err(AuthConfigError::NoSecret);
            }
            let insecure: Vec<String> = config
                .methods
                .iter()
                .filter(|m| m.is_insecure())
                .map(|m| format!("{m:?}").to_lowercase())
                .collect();
            if !insecure.is_empty() && !config.allow_insecure_auth {
                return Err(AuthConfigError::InsecureWithToken(insecure.join(", ")));
            }
        }
        Ok(Authenticator {
            methods: config.methods.clone(),
            secret: secret.map(String::into_bytes),
        })
    }

    /// The configured methods.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// Whether any insecure method is enabled.
    pub fn has_insecure(&self) -> bool {
        self.methods.iter().any(|m| m.is_insecure())
    }

    /// The token secret, if any.
    pub fn secret(&self) -> Option<&[u8]> {
        self.secret.as_deref()
    }

    /// Tries each method on an event. `lookup` reads the event's top-level fields (lock fields
    /// merged); `guest_id` is the connection's guest cookie (or a fresh id); `now_secs` is for
    /// token expiry.
    pub fn authenticate(&self, event: &dyn Lookup, guest_id: &str, now_secs: i64) -> Attempt {
        let string = |name: &str| -> Option<String> {
            event
                .raw_field(name)
                .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        };
        for method in &self.methods {
            match method {
                Method::Token => {
                    let Some(t) = string("token") else { continue };
                    let secret = self.secret.as_deref().unwrap_or_default();
                    return match token::verify(secret, &t, now_secs) {
                        Ok(claims) => Attempt::Authenticated(Auth {
                            providence: Cow::Borrowed("token"),
                            safe_user_id: Cow::Owned(claims.sub.clone()),
                            sec: Security::Authenticated,
                            user_id: Cow::Owned(claims.sub),
                        }),
                        Err(e) => Attempt::Refused(e.to_string()),
                    };
                }
                Method::Chromebook => {
                    let Some(raw) = event.raw_field("chrome_identity") else {
                        continue;
                    };
                    let Ok(identity) = serde_json::from_str::<serde_json::Value>(raw.get()) else {
                        continue;
                    };
                    let Some(id) = identity.get("id").and_then(google_id) else {
                        continue;
                    };
                    let user_id = format!("gc-{id}");
                    return Attempt::Authenticated(Auth {
                        providence: Cow::Borrowed("gcu"),
                        safe_user_id: Cow::Owned(user_id.clone()),
                        sec: Security::Unauthenticated,
                        user_id: Cow::Owned(user_id),
                    });
                }
                Method::Testcase => {
                    let Some(id) = string("user_id") else {
                        continue;
                    };
                    return Attempt::Authenticated(encoded(
                        "tc",
                        format!("testcase-{id}"),
                        Security::Unauthenticated,
                    ));
                }
                Method::HashIdentify => {
                    let Some(hash) = string("hash") else { continue };
                    return Attempt::Authenticated(encoded(
                        "mch",
                        format!("hi-{hash}"),
                        Security::Unauthenticated,
                    ));
                }
                Method::Guest => {
                    return Attempt::Authenticated(encoded(
                        "guest",
                        guest_id.to_owned(),
                        Security::None,
                    ));
                }
            }
        }
        Attempt::NotYet
    }
}

/// Learning Observer's `google_id_to_user_id`: the id as an integer (a number or a string of
/// digits), without leading zeros.
fn google_id(v: &serde_json::Value) -> Option<String> {
    let text = match v {
        serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = text.trim_start_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
}

fn encoded(providence: &'static str, user_id: String, sec: Security) -> Auth<'static> {
    Auth {
        providence: Cow::Borrowed(providence),
        safe_user_id: Cow::Owned(encode_id(providence, &user_id)),
        sec,
        user_id: Cow::Owned(user_id),
    }
}

/// Learning Observer's `encode_id`: `"{providence}-{quote_plus(user_id, safe='@')}"`.
///
/// ```
/// use classpulse_core::auth::token::is_safe_id;
/// # use classpulse_core::auth::Authenticator;
/// // tc-testcase-alice is what LO produces for user_id "alice".
/// assert!(is_safe_id("tc-testcase-alice"));
/// ```
pub(crate) fn encode_id(providence: &str, user_id: &str) -> String {
    let mut out = String::with_capacity(providence.len() + 1 + user_id.len());
    out.push_str(providence);
    out.push('-');
    for b in user_id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' | b'@' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Fields;

    fn attempt(auth: &Authenticator, json: &str) -> Attempt {
        let f = Fields::parse(json).unwrap();
        auth.authenticate(&f, "guestid", 1000)
    }

    fn user(a: Attempt) -> (String, String) {
        match a {
            Attempt::Authenticated(a) => (a.user_id.into_owned(), a.safe_user_id.into_owned()),
            other => panic!("not authenticated: {other:?}"),
        }
    }

    #[test]
    fn learning_observer_methods() {
        let auth = Authenticator::new(
            &AuthConfig {
                methods: vec![Method::Chromebook, Method::Testcase, Method::HashIdentify],
                ..AuthConfig::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(
            user(attempt(&auth, r#"{"user_id":"alice"}"#)),
            ("testcase-alice".into(), "tc-testcase-alice".into())
        );
        assert_eq!(
            user(attempt(
                &auth,
                r#"{"chrome_identity":{"id":"00123"},"user_id":"x"}"#
            )),
            ("gc-123".into(), "gc-123".into())
        );
        // An empty chrome identity falls through to the next method, as in LO's recording.
        assert_eq!(
            user(attempt(
                &auth,
                r#"{"chrome_identity":{},"user_id":"lo-event-node-driver"}"#
            ))
            .1,
            "tc-testcase-lo-event-node-driver"
        );
        assert_eq!(
            user(attempt(&auth, r#"{"hash":"zihan"}"#)).1,
            "mch-hi-zihan"
        );
        assert_eq!(attempt(&auth, r#"{"event":"x"}"#), Attempt::NotYet);
        assert_eq!(
            encode_id("gcu", "1234; DROP TABLE *"),
            "gcu-1234%3B+DROP+TABLE+%2A"
        );
    }

    #[test]
    fn token_config_rules() {
        let base = AuthConfig {
            methods: vec![Method::Token, Method::Testcase],
            allow_insecure_auth: false,
            token_secret: Some("0123456789abcdef".into()),
        };
        assert!(matches!(
            Authenticator::new(&base, None),
            Err(AuthConfigError::InsecureWithToken(_))
        ));
        let allowed = AuthConfig {
            allow_insecure_auth: true,
            ..base.clone()
        };
        assert!(Authenticator::new(&allowed, None).is_ok());
        let no_secret = AuthConfig {
            methods: vec![Method::Token],
            token_secret: None,
            ..base.clone()
        };
        assert_eq!(
            Authenticator::new(&no_secret, None).unwrap_err(),
            AuthConfigError::NoSecret
        );
        assert!(Authenticator::new(&no_secret, Some("0123456789abcdef".into())).is_ok());
    }

    #[test]
    fn tokens_authenticate_and_bad_ones_are_refused() {
        let auth = Authenticator::new(
            &AuthConfig {
                methods: vec![Method::Token],
                allow_insecure_auth: false,
                token_secret: Some("0123456789abcdef".into()),
            },
            None,
        )
        .unwrap();
        let t = token::issue(
            b"0123456789abcdef",
            &token::Claims {
                sub: "s1".into(),
                exp: 2000,
            },
        );
        assert_eq!(
            user(attempt(&auth, &format!(r#"{{"token":"{t}"}}"#))).1,
            "s1"
        );
        let old = token::issue(
            b"0123456789abcdef",
            &token::Claims {
                sub: "s1".into(),
                exp: 10,
            },
        );
        assert_eq!(
            attempt(&auth, &format!(r#"{{"token":"{old}"}}"#)),
            Attempt::Refused("token expired".into())
        );
        // The insecure claim is ignored when only tokens are accepted.
        assert_eq!(attempt(&auth, r#"{"user_id":"mallory"}"#), Attempt::NotYet);
    }
}
