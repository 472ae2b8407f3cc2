//! Signed student tokens: `base64url(JSON {"sub","exp"}) + "." + base64url(HMAC-SHA256)`.
//!
//! Issued by `classpulse token issue`, carried by a client in `lock_fields.fields.token`, and
//! accepted by the `token` auth method (and by the student page link).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The student id (becomes the safe user id).
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `payload.signature` in base64url, or the payload is not the claims JSON.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match (forged, or signed with another secret).
    #[error("invalid token signature")]
    BadSignature,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
    /// The subject is not a usable id.
    #[error("token subject is not a valid user id")]
    BadSubject,
}

/// Signs claims into a token.
///
/// ```
/// use classpulse_core::auth::token::{issue, verify, Claims};
/// let t = issue(b"secret", &Claims { sub: "s-17".into(), exp: 2_000_000_000 });
/// assert_eq!(verify(b"secret", &t, 1_900_000_000).unwrap().sub, "s-17");
/// assert!(verify(b"other", &t, 1_900_000_000).is_err());
/// assert!(verify(b"secret", &t, 2_000_000_001).is_err());
/// ```
pub fn issue(secret: &[u8], claims: &Claims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{payload}.{sig}")
}

/// Checks a token's signature and expiry at `now_secs`.
///
/// # Errors
/// [`TokenError`] saying what is wrong with it.
pub fn verify(secret: &[u8], token: &str, now_secs: i64) -> Result<Claims, TokenError> {
    let (payload, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| TokenError::BadSignature)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    if claims.exp <= now_secs {
        return Err(TokenError::Expired);
    }
    if !is_safe_id(&claims.sub) {
        return Err(TokenError::BadSubject);
    }
    Ok(claims)
}

/// Whether `id` may be used as a safe user id as is: 1–128 characters from
/// `A-Z a-z 0-9 @ . _ -`.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_is_detected() {
        let t = issue(
            b"k",
            &Claims {
                sub: "a".into(),
                exp: 10,
            },
        );
        let (p, s) = t.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"b","exp":10}"#);
        assert_eq!(
            verify(b"k", &format!("{forged_payload}.{s}"), 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify(b"k", p, 0), Err(TokenError::Malformed));
        assert_eq!(verify(b"k", "x.y", 0), Err(TokenError::Malformed));
        assert_eq!(verify(b"k", &t, 10), Err(TokenError::Expired));
        let bad = issue(
            b"k",
            &Claims {
                sub: "a b".into(),
                exp: 10,
            },
        );
        assert_eq!(verify(b"k", &bad, 0), Err(TokenError::BadSubject));
    }
}
