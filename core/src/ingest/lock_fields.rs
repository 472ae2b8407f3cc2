//! `lock_fields`: per-connection headers merged into every later event.
//!
//! Learning Observer's rules, kept exactly: a `lock_fields` event's `fields` are merged into
//! the connection's lock fields **unless** they carry a `source` equal to the current one (a
//! repeated header is ignored whole); every other event gets the lock fields written over its
//! own top-level keys. A client-supplied `auth` is discarded. Three keys are protocol, not
//! data, and are never merged into events: `auth`, `token` (a credential: never logged) and
//! `ack` (asks for acknowledgements).

use crate::event::{Fields, GENERIC_SOURCE, Lookup, write_json_string};
use serde_json::value::RawValue;

/// Keys never copied into events.
const RESERVED: [&str; 3] = ["auth", "token", "ack"];

/// Learning Observer's legacy dashed keys and their current names (its adapter's
/// `FIELD_RENAMES`), applied to an event's top-level keys.
const LEGACY_RENAMES: [(&str, &str); 18] = [
    ("event-type", "event_type"),
    (
        "org.mitros.writing-analytics",
        "org.mitros.writing_analytics",
    ),
    ("teacher-tag", "teacher_tag"),
    ("user-tag", "user_tag"),
    ("process-server", "process_server"),
    ("unique-id", "unique_id"),
    ("generated-id", "generated_id"),
    ("local-storage", "local_storage"),
    ("wa-source", "wa_source"),
    ("background-page", "background_page"),
    ("client-page", "client_page"),
    ("stream-test-script", "stream_test_script"),
    ("character-count", "character_count"),
    ("total-time-on-task", "total_time_on_task"),
    ("summary-stats", "summary_stats"),
    ("student-data", "student_data"),
    (
        "org.mitros.dynamic-assessment",
        "org.mitros.dynamic_assessment",
    ),
    ("da-guest", "da_guest"),
];

/// A connection's lock fields.
#[derive(Debug, Default, Clone)]
pub struct LockFields {
    fields: Vec<(String, Box<RawValue>)>,
}

impl LockFields {
    /// Applies a `lock_fields` event's `fields`. Returns whether anything was merged.
    ///
    /// # Errors
    /// When `fields` is missing or not an object (the client is told).
    pub fn update(&mut self, event: &Fields<'_>) -> Result<bool, String> {
        let raw = event
            .raw("fields")
            .ok_or_else(|| "lock_fields without \"fields\"".to_string())?;
        let fields =
            Fields::parse(raw.get()).map_err(|_| "lock_fields \"fields\" must be an object")?;
        if let Some(new_source) = fields.raw("source")
            && let Some(current) = self.get("source")
            && same_json(new_source, current)
        {
            return Ok(false);
        }
        for (key, value) in fields.iter() {
            let value: Box<RawValue> = value.to_owned();
            match self.fields.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => self.fields.push((key.to_owned(), value)),
            }
        }
        Ok(!fields.is_empty())
    }

    /// A lock field's raw value.
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| &**v)
    }

    /// Whether the client asked for acknowledgements (`"ack": true`).
    pub fn wants_ack(&self) -> bool {
        self.get("ack").is_some_and(|v| v.get() == "true")
    }

    /// Looks a field up in the merged event: lock fields win over the event's own.
    pub fn lookup<'s>(&'s self, event: &'s Fields<'_>, name: &str) -> Option<&'s RawValue> {
        self.get(name).or_else(|| event.raw(name))
    }

    /// The merged event, for reading.
    pub fn merged<'s, 'a>(&'s self, event: &'s Fields<'a>) -> Merged<'s, 'a> {
        Merged { lock: self, event }
    }

    /// The canonical source of the merged event: dashes become underscores (Learning
    /// Observer's adapter); none at all gives `org.ets.generic`.
    pub fn canonical_source(&self, event: &Fields<'_>) -> String {
        self.lookup(event, "source")
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
            .map(|s| s.replace('-', "_"))
            .unwrap_or_else(|| GENERIC_SOURCE.to_owned())
    }

    /// Writes the merged client event: the event's fields (legacy keys renamed, reserved keys
    /// dropped, those a lock field overrides skipped), then the lock fields, then `derived`
    /// fields the event does not already have. `source` is written canonical.
    pub fn write_merged(
        &self,
        event: &Fields<'_>,
        source: &str,
        derived: &[(&'static str, String)],
        out: &mut Vec<u8>,
    ) {
        out.push(b'{');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        let mut had_source = false;
        for (key, value) in event.iter() {
            if RESERVED.contains(&key) || self.get(key).is_some() {
                continue;
            }
            let key = LEGACY_RENAMES
                .iter()
                .find(|(old, _)| *old == key)
                .map_or(key, |(_, new)| new);
            sep(out);
            write_json_string(out, key);
            out.push(b':');
            if key == "source" {
                had_source = true;
                write_source(out, value, source);
            } else {
                out.extend_from_slice(value.get().as_bytes());
            }
        }
        for (key, value) in &self.fields {
            if RESERVED.contains(&key.as_str()) {
                continue;
            }
            sep(out);
            write_json_string(out, key);
            out.push(b':');
            if key == "source" {
                had_source = true;
                write_source(out, value, source);
            } else {
                out.extend_from_slice(value.get().as_bytes());
            }
        }
        let _ = had_source;
        for (key, value) in derived {
            if self.lookup(event, key).is_some() {
                continue;
            }
            sep(out);
            write_json_string(out, key);
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'}');
    }
}

/// An event merged with lock fields, for reading ([`Lookup`]).
#[derive(Debug, Clone, Copy)]
pub struct Merged<'s, 'a> {
    lock: &'s LockFields,
    event: &'s Fields<'a>,
}

impl Lookup for Merged<'_, '_> {
    fn raw_field(&self, name: &str) -> Option<&RawValue> {
        self.lock.lookup(self.event, name)
    }
}

fn write_source(out: &mut Vec<u8>, value: &RawValue, canonical: &str) {
    match serde_json::from_str::<String>(value.get()) {
        Ok(s) if s == canonical => out.extend_from_slice(value.get().as_bytes()),
        Ok(_) => write_json_string(out, canonical),
        Err(_) => out.extend_from_slice(value.get().as_bytes()),
    }
}

fn same_json(a: &RawValue, b: &RawValue) -> bool {
    if a.get() == b.get() {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(a.get()),
        serde_json::from_str::<serde_json::Value>(b.get()),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(lock: &LockFields, event: &str) -> serde_json::Value {
        let f = Fields::parse(event).unwrap();
        let mut out = Vec::new();
        let source = lock.canonical_source(&f);
        lock.write_merged(&f, &source, &[("doc_id", "\"d\"".into())], &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    fn update(lock: &mut LockFields, fields: &str) -> bool {
        let event = format!(r#"{{"event":"lock_fields","fields":{fields}}}"#);
        lock.update(&Fields::parse(&event).unwrap()).unwrap()
    }

    #[test]
    fn learning_observer_merge_rules() {
        let mut lock = LockFields::default();
        assert!(update(&mut lock, r#"{"source":"org.x","version":"1"}"#));
        // A second header without a source merges.
        assert!(update(
            &mut lock,
            r#"{"user_id":"u1","chrome_identity":{}}"#
        ));
        // A repeated header with the same source is ignored entirely.
        assert!(!update(&mut lock, r#"{"source":"org.x","user_id":"u2"}"#));
        // A different source merges.
        assert!(update(&mut lock, r#"{"source":"org.y","version":"2"}"#));
        let m = merged(
            &lock,
            r#"{"event":"k","version":"0","auth":{"user_id":"evil"}}"#,
        );
        assert_eq!(m["source"], "org.y");
        assert_eq!(m["version"], "2");
        assert_eq!(m["user_id"], "u1");
        assert_eq!(m["doc_id"], "d");
        assert!(m.get("auth").is_none());
    }

    #[test]
    fn reserved_keys_stay_out_and_legacy_keys_are_renamed() {
        let mut lock = LockFields::default();
        update(&mut lock, r#"{"token":"secret","ack":true}"#);
        assert!(lock.wants_ack());
        let m = merged(
            &lock,
            r#"{"event":"k","source":"org.mitros.writing-analytics","event-type":"x","doc_id":"mine","token":"t"}"#,
        );
        assert!(m.get("token").is_none() && m.get("ack").is_none());
        assert_eq!(m["source"], "org.mitros.writing_analytics");
        assert_eq!(m["event_type"], "x");
        assert_eq!(m["doc_id"], "mine");
    }

    #[test]
    fn bad_lock_fields_are_errors() {
        let mut lock = LockFields::default();
        let no_fields = Fields::parse(r#"{"event":"lock_fields"}"#).unwrap();
        assert!(lock.update(&no_fields).is_err());
        let not_obj = Fields::parse(r#"{"event":"lock_fields","fields":[1]}"#).unwrap();
        assert!(lock.update(&not_obj).is_err());
    }
}
