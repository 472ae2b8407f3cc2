//! Checking and decoding one text frame: size, nesting depth, JSON, object-ness.

use crate::event::Fields;
use crate::telemetry::Rejection;

/// Whether `json` nests arrays/objects deeper than `max` (strings are skipped correctly).
/// Runs before parsing, so a hostile frame costs one linear scan.
///
/// ```
/// use classpulse_core::ingest::frame::too_deep;
/// assert!(!too_deep(br#"{"a":[{"b":"[[[["}]}"#, 3));
/// assert!(too_deep(b"[[[[1]]]]", 3));
/// ```
pub fn too_deep(json: &[u8], max: usize) -> bool {
    // Depth never exceeds the number of opening brackets; counting them is a fast SIMD scan,
    // and typical events have a handful.
    if memchr::memchr2_iter(b'{', b'[', json).take(max + 1).count() <= max {
        return false;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > max {
                        return true;
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    false
}

/// Decodes a frame into its top-level fields, or says why it is refused.
///
/// # Errors
/// The [`Rejection`] and a message for the client.
pub fn decode(
    text: &str,
    max_bytes: usize,
    max_depth: usize,
) -> Result<Fields<'_>, (Rejection, String)> {
    if text.len() > max_bytes {
        return Err((
            Rejection::TooLarge,
            format!(
                "frame of {} bytes exceeds the limit of {max_bytes} bytes",
                text.len()
            ),
        ));
    }
    if too_deep(text.as_bytes(), max_depth) {
        return Err((
            Rejection::TooDeep,
            format!("JSON nested deeper than {max_depth} levels"),
        ));
    }
    match Fields::parse(text) {
        Ok(fields) => Ok(fields),
        Err(e) => {
            // Valid JSON of another type is a different mistake from broken JSON.
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                Err((
                    Rejection::NotAnObject,
                    "an event must be a JSON object".into(),
                ))
            } else {
                Err((Rejection::InvalidJson, format!("invalid JSON: {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_bad_frames() {
        assert_eq!(decode("{", 100, 10).unwrap_err().0, Rejection::InvalidJson);
        assert_eq!(
            decode("[1]", 100, 10).unwrap_err().0,
            Rejection::NotAnObject
        );
        assert_eq!(
            decode("\"x\"", 100, 10).unwrap_err().0,
            Rejection::NotAnObject
        );
        assert_eq!(
            decode(&"x".repeat(101), 100, 10).unwrap_err().0,
            Rejection::TooLarge
        );
        assert_eq!(
            decode(r#"{"a":[[[]]]}"#, 100, 3).unwrap_err().0,
            Rejection::TooDeep
        );
        assert!(decode(r#"{"a":[[]]}"#, 100, 3).is_ok());
        assert!(decode(r#"{"a":"\"[[[[[["}"#, 100, 2).is_ok());
    }
}
