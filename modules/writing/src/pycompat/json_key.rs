//! How Python's `json.dumps` writes a dict key, for keys that came from JSON values.

use super::float;
use serde_json::Value;

/// The JSON key Learning Observer ends up with when it uses `value` as a dict key: strings as
/// they are, `null`/`true`/`false` as those words, integers in decimal and floats by their
/// Python `repr`. `None` for lists and objects, which Python cannot use as keys.
pub fn json_key(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some("null".to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => float::repr(f),
            (None, None, None) => n.to_string(),
        }),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Python truthiness of a JSON value.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys() {
        assert_eq!(json_key(&json!("d1")).as_deref(), Some("d1"));
        assert_eq!(json_key(&json!(12)).as_deref(), Some("12"));
        assert_eq!(json_key(&json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(json_key(&json!(null)).as_deref(), Some("null"));
        assert_eq!(json_key(&json!(true)).as_deref(), Some("true"));
        assert_eq!(json_key(&json!([1])), None);
    }

    #[test]
    fn truthiness() {
        assert!(!truthy(&json!("")));
        assert!(!truthy(&json!(0)));
        assert!(!truthy(&json!({})));
        assert!(truthy(&json!("x")));
        assert!(truthy(&json!([0])));
    }
}
