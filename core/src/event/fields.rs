//! The top-level fields of a client event, borrowed from the frame or log line.
//!
//! Parsing into `serde_json::Value` costs three times a borrowed parse (PERFORMANCE-NOTES), so an
//! event is kept as its list of top-level `(key, raw JSON value)` pairs; reducers deserialize only
//! the fields they read.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The unparsed JSON text of one value, borrowed from a frame or a log line.
///
/// Only the core constructs it, from text that is known to be one valid JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RawJson<'a>(&'a str);

impl<'a> RawJson<'a> {
    /// The JSON text.
    pub fn get(self) -> &'a str {
        self.0
    }

    /// Wraps text already known to be one valid JSON value (checked by the parser that found
    /// it, or written by ingest).
    pub(crate) fn trusted(json: &'a str) -> Self {
        RawJson(json)
    }

    /// The value when it is a JSON string: borrowed when it has no escapes.
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        let text = self.0;
        if text.len() < 2 || !text.starts_with('"') {
            return None;
        }
        // Fast path: no escapes, borrow straight from the frame.
        if memchr::memchr(b'\\', &text.as_bytes()[1..text.len() - 1]).is_none() {
            return Some(Cow::Borrowed(&text[1..text.len() - 1]));
        }
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    }

    /// Deserializes the value.
    ///
    /// # Errors
    /// When the value is not a `T`.
    pub fn parse<T: Deserialize<'a>>(self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0)
    }
}

impl<'a> From<&'a RawValue> for RawJson<'a> {
    fn from(raw: &'a RawValue) -> Self {
        RawJson(raw.get())
    }
}

/// Fields whose fingerprints are also kept side by side, in one cache line: a client event has
/// about a dozen fields, and every reducer looks several of them up.
const HEAD: usize = 16;

/// The top-level fields of one JSON object, in order, values unparsed.
#[derive(Debug, Default, Clone)]
pub struct Fields<'a> {
    /// `(fingerprint, key, value)`: the fingerprint (length and first/last bytes) is compared
    /// before the key itself, since events are looked up by name many times each.
    entries: Vec<(u32, Cow<'a, str>, RawJson<'a>)>,
    /// The fingerprints of the first [`HEAD`] entries, contiguous: a lookup scans these
    /// instead of striding through the entries.
    head: [u32; HEAD],
    /// The JSON object the fields were scanned from ([`Fields::scan`]; empty otherwise).
    text: &'a str,
}

/// Byte equality without a `memcmp` call or a loop over the bytes: keys are short, and most
/// comparisons that reach here succeed. A key of four to sixteen bytes is compared as two
/// overlapping words from each end (a byte loop's exit branch was most of a lookup's time).
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        8..=16 => same_ends::<8>(a, b),
        4..8 => same_ends::<4>(a, b),
        _ => a == b,
    }
}

/// Whether the first and the last `N` bytes (overlapping below `2 * N`) agree: each side one
/// word compare.
#[inline(always)]
fn same_ends<const N: usize>(a: &[u8], b: &[u8]) -> bool {
    a.first_chunk::<N>() == b.first_chunk::<N>() && a.last_chunk::<N>() == b.last_chunk::<N>()
}

fn tag(key: &str) -> u32 {
    let b = key.as_bytes();
    match b {
        [] => 0,
        [first, .., last] => ((b.len() as u32) << 16) | (u32::from(*first) << 8) | u32::from(*last),
        [only] => (1 << 16) | (u32::from(*only) << 8) | u32::from(*only),
    }
}

impl<'a> Fields<'a> {
    /// Parses a JSON object's top level. Fails on anything but an object.
    ///
    /// ```
    /// use classpulse_core::event::Fields;
    /// let f = Fields::parse(r#"{"event":"keystroke","n":3}"#).unwrap();
    /// assert_eq!(f.str("event").as_deref(), Some("keystroke"));
    /// assert_eq!(f.get::<u32>("n"), Some(3));
    /// ```
    pub fn parse(json: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Fields from already-split `(key, value)` pairs (ingest hands the router these, so a
    /// committed event is not parsed twice).
    pub(crate) fn from_entries(entries: Vec<(u32, Cow<'a, str>, RawJson<'a>)>) -> Self {
        let mut head = [0; HEAD];
        for (slot, (tag, _, _)) in head.iter_mut().zip(&entries) {
            *slot = *tag;
        }
        Fields {
            entries,
            head,
            text: "",
        }
    }

    /// Scans `text` (a JSON object, at most `max_depth` deep) into fields, validating it
    /// ([`crate::event::scan`]).
    ///
    /// # Errors
    /// When the text is not such an object.
    pub fn scan(text: &'a str, max_depth: usize) -> Result<Self, crate::event::scan::ScanError> {
        let mut entries = Vec::with_capacity(16);
        crate::event::scan::scan_object_with(text, max_depth, |k, v| {
            entries.push((tag(&k), k, v));
        })?;
        Ok(Fields {
            text,
            ..Fields::from_entries(entries)
        })
    }

    /// The fingerprint [`Fields`] compares keys by first.
    pub(crate) fn tag(key: &str) -> u32 {
        tag(key)
    }

    /// The raw JSON of the field `name` (the last one, if a key repeats).
    pub fn raw(&self, name: &str) -> Option<RawJson<'a>> {
        let wanted = tag(name);
        let len = self.entries.len();
        if len <= HEAD {
            // All sixteen fingerprints compared at once (the loop vectorizes), then the
            // candidates from the last: a miss costs a few instructions, not sixteen branches.
            let mut hits = 0u32;
            for (i, t) in self.head.iter().enumerate() {
                hits |= u32::from(*t == wanted) << i;
            }
            hits &= (1u32 << len) - 1;
            while hits != 0 {
                let i = 31 - hits.leading_zeros() as usize;
                let (_, key, value) = &self.entries[i];
                if same_key(key, name) {
                    return Some(*value);
                }
                hits &= !(1 << i);
            }
            return None;
        }
        self.entries
            .iter()
            .rev()
            .find(|(t, k, _)| *t == wanted && same_key(k, name))
            .map(|(_, _, v)| *v)
    }

    /// Deserializes the field `name`; `None` when missing or of another type.
    pub fn get<T: Deserialize<'a>>(&self, name: &str) -> Option<T> {
        self.raw(name)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    }

    /// The field `name` when it is a JSON string.
    pub fn str(&self, name: &str) -> Option<Cow<'a, str>> {
        self.raw(name)?.as_str()
    }

    /// Whether the field `name` is present (with any value, `null` included).
    pub fn contains(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// The JSON object these fields were scanned from, when they were ([`Fields::scan`]; empty
    /// for fields parsed or built otherwise). Fields pushed later are not in it.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// All fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, RawJson<'a>)> + '_ {
        self.entries.iter().map(|(_, k, v)| (k.as_ref(), *v))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a field (no check for duplicates; [`Fields::raw`] returns the last).
    pub fn push(&mut self, key: Cow<'a, str>, value: RawJson<'a>) {
        let tag = tag(&key);
        if let Some(slot) = self.head.get_mut(self.entries.len()) {
            *slot = tag;
        }
        self.entries.push((tag, key, value));
    }

    /// Writes these fields as one JSON object.
    pub fn write_json(&self, out: &mut impl JsonOut) {
        out.push_text("{");
        for (i, (_, k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push_text(",");
            }
            write_json_string(out, k);
            out.push_text(":");
            out.push_text(v.get());
        }
        out.push_text("}");
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FieldsVisitor<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    entries.push((tag(&key), key, RawJson(value.get())));
                }
                Ok(Fields::from_entries(entries))
            }
        }
        d.deserialize_map(FieldsVisitor(std::marker::PhantomData))
    }
}

/// Read access to an event's top-level fields, however they are assembled (a frame merged
/// with lock fields, a log line).
pub trait Lookup {
    /// The raw JSON of field `name`.
    fn raw_field(&self, name: &str) -> Option<RawJson<'_>>;
}

impl Lookup for Fields<'_> {
    fn raw_field(&self, name: &str) -> Option<RawJson<'_>> {
        self.raw(name)
    }
}

/// Where JSON text is written: a `String` (a body that stays known to be UTF-8) or bytes.
pub trait JsonOut {
    /// Appends `text`.
    fn push_text(&mut self, text: &str);
}

impl JsonOut for String {
    fn push_text(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl JsonOut for Vec<u8> {
    fn push_text(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_string(out: &mut impl JsonOut, s: &str) {
    let needs_escape = s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
    if !needs_escape {
        out.push_text("\"");
        out.push_text(s);
        out.push_text("\"");
    } else {
        // serde_json's escaping is correct for all inputs; this path is rare.
        out.push_text(&serde_json::to_string(s).expect("a string always serializes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Keys compared from both ends agree with byte equality at every length (keys that
        /// share long prefixes, and differ in the middle only).
        #[test]
        fn keys_compare_as_bytes_do(
            a in "(abcdefgh|x){0,3}[ab\\x00é]{0,3}",
            b in "(abcdefgh|x){0,3}[ab\\x00é]{0,3}",
        ) {
            prop_assert_eq!(same_key(&a, &b), a == b);
            prop_assert!(same_key(&a, &a.clone()));
        }
    }

    #[test]
    fn parses_and_rewrites_objects() {
        let text = r#"{"a":1,"b":{"c":[1,2]},"s":"x\"y","a":2}"#;
        let f = Fields::parse(text).unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f.get::<i32>("a"), Some(2));
        assert_eq!(f.str("s").as_deref(), Some("x\"y"));
        assert_eq!(f.str("a"), None);
        let mut out = Vec::new();
        f.write_json(&mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["b"]["c"][1], 2);
    }

    #[test]
    fn lookups_find_the_last_of_repeated_keys_past_the_head() {
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"k3\":\"again\"}");
        let mut f = Fields::parse(&text).unwrap();
        assert_eq!(f.get::<u32>("k39"), Some(39));
        assert_eq!(f.str("k3").as_deref(), Some("again"));
        let mut small = Fields::parse(r#"{"a":1,"b":2}"#).unwrap();
        small.push(Cow::Borrowed("a"), RawJson::trusted("3"));
        assert_eq!(small.get::<u32>("a"), Some(3));
        assert_eq!(small.get::<u32>("c"), None);
        f.push(Cow::Borrowed("k0"), RawJson::trusted("7"));
        assert_eq!(f.get::<u32>("k0"), Some(7));
    }

    #[test]
    fn keys_of_every_length_are_told_apart_by_their_middle() {
        // Same length, first and last byte (so the same fingerprint); one middle byte differs.
        let mut f = Fields::default();
        let keys: Vec<(String, String)> = (1..40)
            .map(|n| {
                let key = |mid: char| {
                    (0..n)
                        .map(|i| if i == n / 2 && n > 2 { mid } else { 'k' })
                        .collect::<String>()
                };
                (key('a'), key('b'))
            })
            .collect();
        let values: Vec<String> = (0..keys.len()).map(|i| i.to_string()).collect();
        for ((a, _), v) in keys.iter().zip(&values) {
            f.push(Cow::Borrowed(a), RawJson::trusted(v));
        }
        for (i, (a, b)) in keys.iter().enumerate() {
            assert_eq!(f.get::<usize>(a), Some(i), "{a}");
            if a != b {
                assert_eq!(f.raw(b), None, "{b}");
            }
        }
        let small = Fields::parse(r#"{"abcdefghij":1,"abcdefghiJ":2,"":3}"#).unwrap();
        assert_eq!(small.get::<u8>("abcdefghij"), Some(1));
        assert_eq!(small.get::<u8>(""), Some(3));
        assert_eq!(small.raw("abcdXfghij"), None);
    }

    #[test]
    fn rejects_non_objects() {
        assert!(Fields::parse("[1,2]").is_err());
        assert!(Fields::parse("3").is_err());
        assert!(Fields::parse("{").is_err());
    }

    #[test]
    fn escaped_keys_are_decoded() {
        let f = Fields::parse(r#"{"a\u0062":1}"#).unwrap();
        assert_eq!(f.get::<i32>("ab"), Some(1));
        let mut out = Vec::new();
        f.write_json(&mut out);
        assert_eq!(out, br#"{"ab":1}"#);
    }
}
