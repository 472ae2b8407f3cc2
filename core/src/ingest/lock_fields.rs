//! `lock_fields`: per-connection headers merged into every later event.
//!
//! Learning Observer's rules, kept exactly: a `lock_fields` event's `fields` are merged into
//! the connection's lock fields **unless** they carry a `source` equal to the current one (a
//! repeated header is ignored whole); every other event gets the lock fields written over its
//! own top-level keys. A client-supplied `auth` is discarded. Three keys are protocol, not
//! data, and are never merged into events: `auth`, `token` (a credential: never logged) and
//! `ack` (asks for acknowledgements).

use crate::event::{Fields, GENERIC_SOURCE, Lookup, RawJson, write_json_string};
use crate::log::FieldSpan;
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
    /// The canonical form of a string `source` among the lock fields (they win over the
    /// event's own), kept so events need not recompute it.
    source: Option<String>,
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
            let value: Box<RawValue> = RawValue::from_string(value.get().to_owned())
                .map_err(|_| "lock_fields value is not JSON".to_string())?;
            match self.fields.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => self.fields.push((key.to_owned(), value)),
            }
        }
        self.source = self
            .get("source")
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
            .map(|s| s.replace('-', "_"));
        Ok(!fields.is_empty())
    }

    /// A lock field's raw value.
    pub fn get(&self, name: &str) -> Option<RawJson<'_>> {
        // Most lookups miss (the event's own keys are checked against a few headers): compare
        // lengths before bytes.
        self.fields
            .iter()
            .find(|(k, _)| k.len() == name.len() && k == name)
            .map(|(_, v)| RawJson::from(&**v))
    }

    /// Whether no lock field was ever set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether the client asked for acknowledgements (`"ack": true`).
    pub fn wants_ack(&self) -> bool {
        self.get("ack").is_some_and(|v| v.get() == "true")
    }

    /// Looks a field up in the merged event: lock fields win over the event's own.
    pub fn lookup<'s>(&'s self, event: &'s Fields<'_>, name: &str) -> Option<RawJson<'s>> {
        self.get(name).or_else(|| event.raw(name))
    }

    /// The merged event, for reading.
    pub fn merged<'s, 'a>(&'s self, event: &'s Fields<'a>) -> Merged<'s, 'a> {
        Merged { lock: self, event }
    }

    /// The canonical source of the merged event: dashes become underscores (Learning
    /// Observer's adapter); none at all gives `org.ets.generic`.
    pub fn canonical_source(&self, event: &Fields<'_>) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        if let Some(source) = &self.source {
            return Cow::Borrowed(source);
        }
        if self.get("source").is_some() {
            // A lock `source` that is not a string: Learning Observer would not route it.
            return Cow::Borrowed(GENERIC_SOURCE);
        }
        match event.str("source") {
            Some(s) if s.contains('-') => Cow::Owned(s.replace('-', "_")),
            Some(s) => Cow::Owned(s.into_owned()),
            None => Cow::Borrowed(GENERIC_SOURCE),
        }
    }

    /// Writes the merged client event: the event's fields (legacy keys renamed, reserved keys
    /// dropped, those a lock field overrides skipped), then the lock fields, then `derived`
    /// fields the event does not already have. `source` is written canonical.
    ///
    /// The position of each field written is recorded in `spans` (offsets into `out`), so the
    /// router can read the event without parsing it again. A derived field replaces an
    /// existing one whose value is falsy (`null`, `""`, `0`, `false`), as Learning Observer's
    /// adapters do.
    pub fn write_merged(
        &self,
        event: &Fields<'_>,
        source: &str,
        derived: &[(&'static str, String)],
        out: &mut String,
        spans: &mut Vec<FieldSpan>,
    ) {
        let replaced = |key: &str, value: RawJson<'_>| {
            !derived.is_empty() && is_falsy(value) && derived.iter().any(|(k, _)| *k == key)
        };
        out.push('{');
        let mut first = true;
        if self.copy_as_written(event, source, &replaced, out, spans) {
            first = event.is_empty();
        } else {
            self.write_event_fields(event, source, &replaced, out, spans, &mut first);
        }
        for (key, value) in &self.fields {
            let value = RawJson::from(&**value);
            if RESERVED.contains(&key.as_str()) || replaced(key, value) {
                continue;
            }
            write_field(out, &mut first, spans, key, |out| {
                if key == "source" {
                    write_source(out, value, source);
                } else {
                    out.push_str(value.get());
                }
            });
        }
        for (key, value) in derived {
            if self.lookup(event, key).is_some_and(|v| !is_falsy(v)) {
                continue;
            }
            write_field(out, &mut first, spans, key, |out| out.push_str(value));
        }
        out.push('}');
    }

    /// The usual event — no field dropped, renamed or rewritten, written compactly, as a
    /// browser's `JSON.stringify` does — copied as it came, one run of bytes, instead of field
    /// by field (which re-checked every key for escapes). Returns false, writing nothing, for
    /// any other event: the fields must each sit where a compact object puts them.
    fn copy_as_written(
        &self,
        event: &Fields<'_>,
        source: &str,
        replaced: &impl Fn(&str, RawJson<'_>) -> bool,
        out: &mut String,
        spans: &mut Vec<FieldSpan>,
    ) -> bool {
        let text = event.text();
        let base = text.as_ptr() as usize;
        let offset = |s: &str| (s.as_ptr() as usize).wrapping_sub(base);
        let bytes = text.as_bytes();
        // Where the next member's opening quote must be.
        let mut at = 1;
        for (i, (key, value)) in event.iter().enumerate() {
            if i > 0 {
                if bytes.get(at) != Some(&b',') {
                    return false;
                }
                at += 1;
            }
            let key_at = offset(key);
            let value_at = offset(value.get());
            let plain_source = key != "source" || {
                let v = value.get();
                v.len() == source.len() + 2 && v.get(1..v.len() - 1) == Some(source)
            };
            if key_at != at + 1
                || bytes.get(at) != Some(&b'"')
                || bytes.get(key_at + key.len()) != Some(&b'"')
                || bytes.get(key_at + key.len() + 1) != Some(&b':')
                || value_at != key_at + key.len() + 2
                || !plain_source
                || key.contains('-')
                || self.leaves_out(key, value, replaced)
            {
                return false;
            }
            at = value_at + value.get().len();
        }
        if text.len() < 2 || at != text.len() - 1 || bytes.get(at) != Some(&b'}') {
            return false;
        }
        // Offsets in `text` become offsets in `out`, where its byte 1 lands.
        let start = out.len();
        out.push_str(&text[1..at]);
        spans.extend(event.iter().map(|(key, value)| {
            let (k, v) = (start + offset(key) - 1, start + offset(value.get()) - 1);
            FieldSpan {
                key: (k as u32, (k + key.len()) as u32),
                value: (v as u32, (v + value.get().len()) as u32),
                key_escaped: false,
            }
        }));
        true
    }

    /// Whether the merged object leaves out the event's field `key`: reserved, overridden by a
    /// lock field, or falsy and `replaced` by a derived one.
    fn leaves_out(
        &self,
        key: &str,
        value: RawJson<'_>,
        replaced: &impl Fn(&str, RawJson<'_>) -> bool,
    ) -> bool {
        RESERVED.contains(&key) || self.get(key).is_some() || replaced(key, value)
    }

    /// The event's fields, one by one: those the lock fields override, reserved ones and falsy
    /// ones a derived field replaces are left out; legacy names are renamed.
    fn write_event_fields(
        &self,
        event: &Fields<'_>,
        source: &str,
        replaced: &impl Fn(&str, RawJson<'_>) -> bool,
        out: &mut String,
        spans: &mut Vec<FieldSpan>,
        first: &mut bool,
    ) {
        for (key, value) in event.iter() {
            if self.leaves_out(key, value, replaced) {
                continue;
            }
            let key = if key.as_bytes().contains(&b'-') {
                LEGACY_RENAMES
                    .iter()
                    .find(|(old, _)| *old == key)
                    .map_or(key, |(_, new)| new)
            } else {
                key
            };
            write_field(out, first, spans, key, |out| {
                if key == "source" {
                    write_source(out, value, source);
                } else {
                    out.push_str(value.get());
                }
            });
        }
    }
}

/// An event merged with lock fields, for reading ([`Lookup`]).
#[derive(Debug, Clone, Copy)]
pub struct Merged<'s, 'a> {
    lock: &'s LockFields,
    event: &'s Fields<'a>,
}

impl Lookup for Merged<'_, '_> {
    fn raw_field(&self, name: &str) -> Option<RawJson<'_>> {
        self.lock.lookup(self.event, name)
    }
}

/// Writes `"key":value` (with a leading comma after the first field) and records its span.
fn write_field(
    out: &mut String,
    first: &mut bool,
    spans: &mut Vec<FieldSpan>,
    key: &str,
    value: impl FnOnce(&mut String),
) {
    if !*first {
        out.push(',');
    }
    *first = false;
    let key_start = out.len();
    write_json_string(out, key);
    let key_end = out.len();
    out.push(':');
    let value_start = out.len();
    value(out);
    let value_end = out.len();
    spans.push(FieldSpan {
        key: ((key_start + 1) as u32, (key_end - 1) as u32),
        value: (value_start as u32, value_end as u32),
        key_escaped: key_end - key_start != key.len() + 2,
    });
}

/// Learning Observer treats these as "no value" (Python falsiness of JSON scalars).
fn is_falsy(value: RawJson<'_>) -> bool {
    matches!(
        value.get(),
        "null" | "\"\"" | "0" | "false" | "0.0" | "[]" | "{}"
    )
}

fn write_source(out: &mut String, value: RawJson<'_>, canonical: &str) {
    let text = value.get();
    // The usual case: the client's source is already canonical and has no escapes.
    if text.len() == canonical.len() + 2
        && text.starts_with('"')
        && &text[1..text.len() - 1] == canonical
    {
        out.push_str(text);
        return;
    }
    match serde_json::from_str::<String>(text) {
        Ok(s) if s == canonical => out.push_str(text),
        Ok(_) => write_json_string(out, canonical),
        Err(_) => out.push_str(text),
    }
}

fn same_json(a: RawJson<'_>, b: RawJson<'_>) -> bool {
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
        let mut out = String::new();
        let source = lock.canonical_source(&f);
        lock.write_merged(
            &f,
            &source,
            &[("doc_id", "\"d\"".into())],
            &mut out,
            &mut Vec::new(),
        );
        serde_json::from_str(&out).unwrap()
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

    /// The merged object and its spans, from fields scanned off the frame (which may be copied
    /// as written) and from fields parsed (always written field by field).
    fn both_ways(lock: &LockFields, frame: &str) -> [(String, Vec<FieldSpan>); 2] {
        let derived = [("doc_id", "\"d\"".to_owned())];
        [
            Fields::scan(frame, 100).unwrap(),
            Fields::parse(frame).unwrap(),
        ]
        .map(|f| {
            let (mut out, mut spans) = ("prefix".to_owned(), Vec::new());
            let source = lock.canonical_source(&f);
            lock.write_merged(&f, &source, &derived, &mut out, &mut spans);
            (out, spans)
        })
    }

    #[test]
    fn a_compact_event_copied_as_written_equals_one_written_field_by_field() {
        let plain = LockFields::default();
        let mut locked = LockFields::default();
        update(
            &mut locked,
            r#"{"source":"org.mitros.writing_analytics","version":"2","user_id":"u1"}"#,
        );
        let frames = [
            r#"{}"#,
            r#"{"event":"keystroke","keystroke":{"key":"a","n":[1, 2]},"s":"x\"y","doc_id":"mine"}"#,
            r#"{"event":"k","source":"org.mitros.writing_analytics","n":1.5e3}"#,
            r#"{"event":"k","a":1,"a":2}"#,
            // Each of these is written field by field: whitespace, an escaped key, a legacy
            // name, a reserved key, a non-canonical source, a falsy field a derived one replaces.
            r#"{"event":"k", "a":1}"#,
            r#" {"event":"k"}"#,
            r#"{"event":"k","\u0061":1}"#,
            r#"{"event":"k","event-type":"x"}"#,
            r#"{"event":"k","auth":{"user_id":"evil"}}"#,
            r#"{"event":"k","source":"org.mitros.writing-analytics"}"#,
            r#"{"event":"k","doc_id":""}"#,
            r#"{"event":"k","version":"0"}"#,
        ];
        for lock in [&plain, &locked] {
            for frame in frames {
                let [scanned, parsed] = both_ways(lock, frame);
                assert_eq!(scanned.0, parsed.0, "{frame}");
                assert_eq!(scanned.1, parsed.1, "{frame}");
            }
        }
        // The first ones were copied whole, so the comparison above compared the two paths.
        let f = Fields::scan(frames[1], 100).unwrap();
        let mut out = String::new();
        assert!(plain.copy_as_written(&f, "", &|_, _| false, &mut out, &mut Vec::new()));
        assert_eq!(out, &frames[1][1..frames[1].len() - 1]);
        let f = Fields::scan(frames[4], 100).unwrap();
        assert!(!plain.copy_as_written(&f, "", &|_, _| false, &mut String::new(), &mut Vec::new()));
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
