//! Sign-in sessions: signed, stateless cookies any node accepts.
//!
//! The cookie `classpulse_session` holds `base64url(JSON claims) + "." + base64url(HMAC-SHA256)`
//! — the student token's format, under a key derived for sessions only, so a student token is
//! never a valid session and a session never a valid token. Nothing is stored on the server:
//! every node that shares the secret accepts every session, and signing out clears the
//! cookie (a copied cookie stays valid until it expires; keep `ttl_hours` short).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "classpulse_session";

/// `[sessions]` in `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Secret that signs session cookies (at least 16 bytes); every node of a deployment
    /// needs the same. The environment variable `CLASSPULSE_SESSION_SECRET` overrides it;
    /// without either, `auth.token_secret` is used, and without that a random secret is made
    /// at start-up (sessions then end when the server restarts).
    pub secret: Option<String>,
    /// How long a sign-in lasts, in hours.
    pub ttl_hours: u64,
    /// When cookies get the `Secure` attribute: `auto` (when the request came over TLS, as
    /// told by a proxy's `X-Forwarded-Proto: https`), `always`, or `never`.
    pub secure_cookies: SecureCookies,
    /// Origins (`https://dashboards.school.example`) besides the server's own from which
    /// pages may open dashboard sockets and post forms.
    pub allowed_origins: Vec<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            secret: None,
            ttl_hours: 12,
            secure_cookies: SecureCookies::Auto,
            allowed_origins: Vec::new(),
        }
    }
}

/// When to mark cookies `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecureCookies {
    /// When the request arrived over TLS (`X-Forwarded-Proto: https` from the proxy).
    Auto,
    /// Always (the server is only reachable over TLS).
    Always,
    /// Never (plain HTTP on a trusted network).
    Never,
}

/// Who signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A staff account (teacher, TA, administrator), signed in with a password.
    Staff,
    /// A student, signed in through their token link.
    Student,
}

/// The claims of a session cookie: who, what kind, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Staff: the account name; student: the safe user id.
    pub sub: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Staff or student.
    pub kind: Kind,
    /// An administrator (staff only).
    #[serde(default)]
    pub admin: bool,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

impl Principal {
    /// Whether this is a staff account.
    pub fn is_staff(&self) -> bool {
        self.kind == Kind::Staff
    }
}

/// Why a session cookie was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a session cookie.
    #[error("malformed session")]
    Malformed,
    /// Signed with another key (forged, or another deployment's).
    #[error("invalid session signature")]
    BadSignature,
    /// Past its expiry.
    #[error("session expired")]
    Expired,
}

/// The key that signs and checks sessions.
#[derive(Clone)]
pub struct SessionKeys {
    key: [u8; 32],
    /// How long a session lasts, in seconds.
    pub ttl_secs: i64,
    /// The settings.
    pub config: SessionConfig,
    /// Whether the secret was made up at start-up (sessions do not outlive the process).
    pub ephemeral: bool,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("ttl_secs", &self.ttl_secs)
            .field("ephemeral", &self.ephemeral)
            .finish_non_exhaustive()
    }
}

/// A session secret that is too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sessions.secret (or CLASSPULSE_SESSION_SECRET) must be at least 16 bytes")]
pub struct WeakSessionSecret;

impl SessionKeys {
    /// Derives the session key from the first secret given: `secret` (the environment's or
    /// the config's session secret), else `fallback` (the token secret), else a random one.
    ///
    /// # Errors
    /// [`WeakSessionSecret`] for a secret under 16 bytes.
    pub fn new(
        config: &SessionConfig,
        env_secret: Option<String>,
        fallback: Option<&[u8]>,
    ) -> Result<SessionKeys, WeakSessionSecret> {
        let chosen = env_secret
            .filter(|s| !s.is_empty())
            .or_else(|| config.secret.clone().filter(|s| !s.is_empty()));
        let (secret, ephemeral) = match (chosen, fallback) {
            (Some(s), _) => {
                if s.len() < 16 {
                    return Err(WeakSessionSecret);
                }
                (s.into_bytes(), false)
            }
            (None, Some(f)) => (f.to_vec(), false),
            (None, None) => (crate::datadir::random_hex(32).into_bytes(), true),
        };
        let mut mac = HmacSha256::new_from_slice(&secret).expect("HMAC takes any key length");
        mac.update(b"classpulse session cookie v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Ok(SessionKeys {
            key,
            ttl_secs: i64::try_from(config.ttl_hours.saturating_mul(3600)).unwrap_or(i64::MAX),
            config: config.clone(),
            ephemeral,
        })
    }

    /// Keys for another kind of signed value (a calendar feed link bound to a course, …),
    /// derived from these so that neither ever verifies as the other, and shared by every node
    /// that shares the session secret. `purpose` names the kind and what it is bound to.
    ///
    /// ```
    /// use classpulse_core::auth::session::{Kind, Principal, SessionConfig, SessionKeys};
    /// let keys = SessionKeys::new(&SessionConfig::default(), Some("a-secret-of-16-bytes+".into()), None).unwrap();
    /// let feed = keys.derive("calendar feed\0course A");
    /// let who = Principal { sub: "s-a".into(), name: String::new(), kind: Kind::Student, admin: false, exp: i64::MAX };
    /// let token = feed.issue(&who);
    /// assert!(feed.verify(&token, 0).is_ok());
    /// assert!(keys.verify(&token, 0).is_err(), "never a session cookie");
    /// assert!(keys.derive("calendar feed\0course B").verify(&token, 0).is_err());
    /// ```
    pub fn derive(&self, purpose: &str) -> SessionKeys {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"classpulse derived key v1\0");
        mac.update(purpose.as_bytes());
        SessionKeys {
            key: mac.finalize().into_bytes().into(),
            ..self.clone()
        }
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }

    /// Signs a principal into a cookie value.
    pub fn issue(&self, principal: &Principal) -> String {
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(principal).expect("claims serialize"));
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{sig}")
    }

    /// Checks a cookie value at `now_secs`.
    ///
    /// # Errors
    /// [`SessionError`] saying what is wrong.
    pub fn verify(&self, value: &str, now_secs: i64) -> Result<Principal, SessionError> {
        let (payload, sig) = value.split_once('.').ok_or(SessionError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SessionError::Malformed)?;
        self.mac(payload)
            .verify_slice(&sig)
            .map_err(|_| SessionError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| SessionError::Malformed)?;
        let principal: Principal =
            serde_json::from_slice(&json).map_err(|_| SessionError::Malformed)?;
        if principal.exp <= now_secs {
            return Err(SessionError::Expired);
        }
        Ok(principal)
    }

    /// The signed-in principal of a request, from its `Cookie` headers.
    pub fn from_headers(
        &self,
        headers: &axum::http::HeaderMap,
        now_secs: i64,
    ) -> Option<Principal> {
        cookie(headers, SESSION_COOKIE).and_then(|v| self.verify(&v, now_secs).ok())
    }

    /// A `Set-Cookie` value that signs `principal` in.
    pub fn set_cookie(&self, principal: &Principal, secure: bool) -> String {
        format!(
            "{SESSION_COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
            self.issue(principal),
            self.ttl_secs,
            if secure { "; Secure" } else { "" }
        )
    }

    /// A `Set-Cookie` value that signs out.
    pub fn clear_cookie(&self, secure: bool) -> String {
        format!(
            "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
            if secure { "; Secure" } else { "" }
        )
    }

    /// Whether cookies set in answer to a request with these headers get `Secure`.
    pub fn secure(&self, headers: &axum::http::HeaderMap) -> bool {
        match self.config.secure_cookies {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https")),
        }
    }

    /// Whether a request's `Origin` (when it has one) is the server itself or an allowed
    /// origin. Browsers send `Origin` on WebSocket upgrades and cross-site posts; a request
    /// without one did not come from another site's page.
    pub fn origin_allowed(&self, headers: &axum::http::HeaderMap) -> bool {
        let Some(origin) = headers
            .get(axum::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        else {
            return true;
        };
        if self
            .config
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> SessionKeys {
        SessionKeys::new(&SessionConfig::default(), Some(secret.into()), None).unwrap()
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let k = keys("0123456789abcdef");
        let p = Principal {
            sub: "t.smith".into(),
            name: "Ms Smith".into(),
            kind: Kind::Staff,
            admin: false,
            exp: 100,
        };
        let cookie = k.issue(&p);
        assert_eq!(k.verify(&cookie, 50), Ok(p.clone()));
        assert_eq!(k.verify(&cookie, 100), Err(SessionError::Expired));
        assert_eq!(
            keys("another-secret-123").verify(&cookie, 50),
            Err(SessionError::BadSignature)
        );
        // A student token signed with the same secret is not a session.
        let token = crate::auth::token::issue(
            b"0123456789abcdef",
            &crate::auth::token::Claims {
                sub: "t.smith".into(),
                exp: 100,
            },
        );
        assert_eq!(k.verify(&token, 50), Err(SessionError::BadSignature));
        assert!(SessionKeys::new(&SessionConfig::default(), Some("short".into()), None).is_err());
        let set = k.set_cookie(&p, true);
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.ends_with("Secure")
        );
    }

    #[test]
    fn origins() {
        let k = keys("0123456789abcdef");
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::HOST, "127.0.0.1:8888".parse().unwrap());
        assert!(k.origin_allowed(&h));
        h.insert(
            axum::http::header::ORIGIN,
            "http://127.0.0.1:8888".parse().unwrap(),
        );
        assert!(k.origin_allowed(&h));
        h.insert(
            axum::http::header::ORIGIN,
            "https://evil.example".parse().unwrap(),
        );
        assert!(!k.origin_allowed(&h));
    }
}
