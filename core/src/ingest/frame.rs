//! Checking and decoding one text frame: size, nesting depth, JSON, object-ness.

use crate::event::Fields;
use crate::event::scan::ScanError;
use crate::telemetry::Rejection;

/// Decodes a frame into its top-level fields, or says why it is refused. One pass validates
/// the JSON, checks the nesting depth and splits the top level ([`scan_object`]).
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
    match Fields::scan(text, max_depth) {
        Ok(fields) => Ok(fields),
        Err(ScanError::TooDeep(_)) => Err((
            Rejection::TooDeep,
            format!("JSON nested deeper than {max_depth} levels"),
        )),
        Err(ScanError::NotAnObject) => Err((
            Rejection::NotAnObject,
            "an event must be a JSON object".into(),
        )),
        Err(ScanError::Invalid(at)) => {
            Err((Rejection::InvalidJson, format!("invalid JSON at byte {at}")))
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
        assert!(decode("{\"a\":1}trailing", 100, 2).is_err());
    }
}
