//! What every module serving its own pages and scripts needs: the same security headers on
//! each (so one page cannot be framed or load another site's code), and course ids put into
//! URLs safely.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// A page, script or stylesheet compiled into the binary, with its content type,
/// `Cache-Control: no-cache` and the security headers (a strict `Content-Security-Policy`,
/// `nosniff`, no referrer, no framing).
pub fn static_asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `text` as one URL path segment or query value: everything but unreserved characters
/// percent-escaped.
///
/// ```
/// use classpulse_core::server::page::percent_encode;
/// assert_eq!(percent_encode("CS-101_a.b~"), "CS-101_a.b~");
/// assert_eq!(percent_encode("a b/c?é"), "a%20b%2Fc%3F%C3%A9");
/// ```
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
