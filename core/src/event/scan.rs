//! A validating scanner for the top level of a JSON object.
//!
//! Ingest must check every frame is JSON and find its top-level fields; reducers then parse
//! only the values they read. This does both in one pass, at a few instructions per byte:
//! strings are skipped eight bytes at a time (SWAR), nesting depth is checked on the way (no
//! separate depth pass), and nothing is allocated unless a key has escapes. It accepts exactly
//! the JSON texts `serde_json` accepts (a property test holds the two together).

use super::RawJson;
use std::borrow::Cow;

/// Why a text is not a JSON object this scanner accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// Not valid JSON (with the byte offset where it went wrong).
    #[error("invalid JSON at byte {0}")]
    Invalid(usize),
    /// Valid JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// Nested deeper than allowed.
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),
}

/// The top-level `(key, value)` pairs of a JSON object, in order.
///
/// ```
/// use classpulse_core::event::scan::scan_object;
/// let pairs = scan_object(r#"{"a": [1, {"b": "x"}], "c\n": null}"#, 64).unwrap();
/// assert_eq!(pairs[0].0, "a");
/// assert_eq!(pairs[0].1.get(), r#"[1, {"b": "x"}]"#);
/// assert_eq!(pairs[1].0, "c\n");
/// assert!(scan_object("[1]", 64).is_err());
/// ```
///
/// # Errors
/// [`ScanError`] when the text is not a JSON object within `max_depth` levels.
pub fn scan_object(
    text: &str,
    max_depth: usize,
) -> Result<Vec<(Cow<'_, str>, RawJson<'_>)>, ScanError> {
    let mut out = Vec::with_capacity(16);
    scan_object_with(text, max_depth, |k, v| out.push((k, v)))?;
    Ok(out)
}

/// [`scan_object`], handing each pair to `each` as it is found.
///
/// # Errors
/// [`ScanError`] when the text is not a JSON object within `max_depth` levels (pairs already
/// handed over stay handed over).
pub fn scan_object_with<'a>(
    text: &'a str,
    max_depth: usize,
    each: impl FnMut(Cow<'a, str>, RawJson<'a>),
) -> Result<(), ScanError> {
    scan_object_nested(text, max_depth, "", each, |_, _| {})
}

/// [`scan_object_with`] that also splits one member: when the object's member named `nested`
/// is itself an object, its pairs go to `inner` (and the member, whole, to `each`), all in one
/// pass over the text. A log line's envelope and its `client` event are split this way.
///
/// ```
/// use classpulse_core::event::scan::scan_object_nested;
/// let (mut outer, mut inner) = (Vec::new(), Vec::new());
/// scan_object_nested(r#"{"seq":1,"client":{"event":"x","n":[2]}}"#, 64, "client",
///     |k, v| outer.push((k, v.get())), |k, v| inner.push((k, v.get()))).unwrap();
/// assert_eq!(outer[1].1, r#"{"event":"x","n":[2]}"#);
/// assert_eq!(inner[1].0, "n");
/// ```
///
/// # Errors
/// [`ScanError`] when the text is not a JSON object within `max_depth` levels.
pub fn scan_object_nested<'a>(
    text: &'a str,
    max_depth: usize,
    nested: &str,
    mut each: impl FnMut(Cow<'a, str>, RawJson<'a>),
    mut inner: impl FnMut(Cow<'a, str>, RawJson<'a>),
) -> Result<(), ScanError> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        max_depth,
    };
    scanner.skip_ws();
    if scanner.peek() != Some(b'{') {
        // Tell "valid JSON of another type" from "not JSON".
        scanner.value(0)?;
        scanner.skip_ws();
        return if scanner.pos == scanner.bytes.len() {
            Err(ScanError::NotAnObject)
        } else {
            Err(ScanError::Invalid(scanner.pos))
        };
    }
    scanner.members(1, Scanner::key, |scanner, key| {
        let start = scanner.pos;
        if !nested.is_empty() && key == nested && scanner.peek() == Some(b'{') {
            scanner.members(2, Scanner::key, |scanner, key| {
                let start = scanner.pos;
                scanner.value(2)?;
                inner(key, RawJson::trusted(&text[start..scanner.pos]));
                Ok(())
            })?;
        } else {
            scanner.value(1)?;
        }
        each(key, RawJson::trusted(&text[start..scanner.pos]));
        Ok(())
    })?;
    scanner.skip_ws();
    if scanner.pos != scanner.bytes.len() {
        return Err(ScanError::Invalid(scanner.pos));
    }
    Ok(())
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    max_depth: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), ScanError> {
        if self.next_byte() == Some(want) {
            Ok(())
        } else {
            Err(ScanError::Invalid(self.pos.saturating_sub(1)))
        }
    }

    fn skip_ws(&mut self) {
        self.pos = skip_ws(self.bytes, self.pos);
    }

    /// A key string; borrowed unless it has escapes.
    fn key(&mut self) -> Result<Cow<'a, str>, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(ScanError::Invalid(self.pos));
        }
        let start = self.pos;
        let escaped = self.string()?;
        let inner = &self.text[start + 1..self.pos - 1];
        if !escaped {
            return Ok(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(&self.text[start..self.pos])
            .map(Cow::Owned)
            .map_err(|_| ScanError::Invalid(start))
    }

    /// An object at nesting level `depth` (positioned on its `{`): each key is read by
    /// `read_key` (positioned on it) and handed to `value`, which must consume the value that
    /// follows (positioned on its first byte).
    fn members<K>(
        &mut self,
        depth: usize,
        mut read_key: impl FnMut(&mut Self) -> Result<K, ScanError>,
        mut value: impl FnMut(&mut Self, K) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        if depth > self.max_depth {
            return Err(ScanError::TooDeep(self.max_depth));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            let key = read_key(self)?;
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            value(self, key)?;
            self.skip_ws();
            match self.next_byte() {
                Some(b',') => continue,
                Some(b'}') => return Ok(()),
                _ => return Err(ScanError::Invalid(self.pos.saturating_sub(1))),
            }
        }
    }

    /// Skips one value at nesting level `depth`.
    fn value(&mut self, depth: usize) -> Result<(), ScanError> {
        self.pos = skip_value(self.bytes, self.pos, depth, self.max_depth)?;
        Ok(())
    }

    /// Skips a string (positioned on its opening quote); returns whether it had escapes.
    fn string(&mut self) -> Result<bool, ScanError> {
        let (end, escaped) = skip_string(self.bytes, self.pos)?;
        self.pos = end;
        Ok(escaped)
    }
}

/// Skips the value that starts at `pos`, a member or element at nesting level `depth`;
/// returns where it ends. One loop over any nesting, with the position in a register: a call
/// per nested value (the position kept in memory) made the scanner a quarter slower.
fn skip_value(
    bytes: &[u8],
    mut pos: usize,
    depth: usize,
    max_depth: usize,
) -> Result<usize, ScanError> {
    let mut open = OpenContainers::default();
    'value: loop {
        match bytes.get(pos) {
            Some(b'"') => pos = skip_string(bytes, pos)?.0,
            Some(&c @ (b'{' | b'[')) => {
                if depth + open.len + 1 > max_depth {
                    return Err(ScanError::TooDeep(max_depth));
                }
                let object = c == b'{';
                pos = skip_ws(bytes, pos + 1);
                if bytes.get(pos) == Some(if object { &b'}' } else { &b']' }) {
                    pos += 1;
                } else {
                    open.push(object);
                    if object {
                        pos = member_key(bytes, pos)?;
                    }
                    continue 'value;
                }
            }
            Some(b't') => pos = literal(bytes, pos, b"true")?,
            Some(b'f') => pos = literal(bytes, pos, b"false")?,
            Some(b'n') => pos = literal(bytes, pos, b"null")?,
            Some(b'-' | b'0'..=b'9') => pos = number(bytes, pos)?,
            _ => return Err(ScanError::Invalid(pos)),
        }
        // After a value: close the containers that end here, or go on to the next member or
        // element of the innermost one.
        loop {
            let Some(object) = open.innermost() else {
                return Ok(pos);
            };
            pos = skip_ws(bytes, pos);
            match bytes.get(pos) {
                Some(b',') => {
                    pos = skip_ws(bytes, pos + 1);
                    if object {
                        pos = member_key(bytes, pos)?;
                    }
                    continue 'value;
                }
                Some(b'}') if object => {
                    pos += 1;
                    open.pop();
                }
                Some(b']') if !object => {
                    pos += 1;
                    open.pop();
                }
                _ => return Err(ScanError::Invalid(pos)),
            }
        }
    }
}

/// The objects and arrays a value is inside, one bit each (set: an object); no allocation for
/// the first 64 levels.
#[derive(Default)]
struct OpenContainers {
    bits: u64,
    spilled: Vec<u64>,
    len: usize,
}

impl OpenContainers {
    fn push(&mut self, object: bool) {
        if self.len > 0 && self.len.is_multiple_of(64) {
            self.spilled.push(self.bits);
            self.bits = 0;
        }
        self.bits = (self.bits << 1) | u64::from(object);
        self.len += 1;
    }

    fn pop(&mut self) {
        self.bits >>= 1;
        self.len -= 1;
        if self.len > 0 && self.len.is_multiple_of(64) {
            self.bits = self.spilled.pop().unwrap_or_default();
        }
    }

    /// Whether the innermost open container is an object; `None` when there is none.
    fn innermost(&self) -> Option<bool> {
        (self.len > 0).then_some(self.bits & 1 == 1)
    }
}

/// Skips a member's `"key":` and the whitespace after it (`pos` on the key's quote); returns
/// where its value starts.
#[inline(always)]
fn member_key(bytes: &[u8], pos: usize) -> Result<usize, ScanError> {
    if bytes.get(pos) != Some(&b'"') {
        return Err(ScanError::Invalid(pos));
    }
    let pos = skip_ws(bytes, skip_string(bytes, pos)?.0);
    if bytes.get(pos) != Some(&b':') {
        return Err(ScanError::Invalid(pos));
    }
    Ok(skip_ws(bytes, pos + 1))
}

#[inline(always)]
fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

#[inline(always)]
fn literal(bytes: &[u8], pos: usize, word: &[u8]) -> Result<usize, ScanError> {
    if bytes[pos..].starts_with(word) {
        Ok(pos + word.len())
    } else {
        Err(ScanError::Invalid(pos))
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
#[inline(always)]
fn number(bytes: &[u8], mut pos: usize) -> Result<usize, ScanError> {
    let digits = |pos: &mut usize| {
        let start = *pos;
        while let Some(b'0'..=b'9') = bytes.get(*pos) {
            *pos += 1;
        }
        *pos > start
    };
    if bytes.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match bytes.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => {
            digits(&mut pos);
        }
        _ => return Err(ScanError::Invalid(pos)),
    }
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        if !digits(&mut pos) {
            return Err(ScanError::Invalid(pos));
        }
    }
    if let Some(b'e' | b'E') = bytes.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = bytes.get(pos) {
            pos += 1;
        }
        if !digits(&mut pos) {
            return Err(ScanError::Invalid(pos));
        }
    }
    Ok(pos)
}

/// Skips the string whose opening quote is at `pos`; returns where it ends and whether it had
/// escapes.
#[inline(always)]
fn skip_string(bytes: &[u8], pos: usize) -> Result<(usize, bool), ScanError> {
    let mut pos = pos + 1;
    let mut escaped = false;
    loop {
        pos = special_from(bytes, pos);
        match bytes.get(pos) {
            Some(b'"') => return Ok((pos + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                pos = escape(bytes, pos)?;
            }
            // A raw control character, or the text ended inside the string.
            _ => return Err(ScanError::Invalid(pos)),
        }
    }
}

/// Validates the escape sequence at `pos` (its backslash); returns where it ends. Like
/// serde_json's validation, `\u` needs four hex digits but lone surrogates pass.
fn escape(bytes: &[u8], at: usize) -> Result<usize, ScanError> {
    match bytes.get(at + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 2),
        Some(b'u') => match bytes.get(at + 2..at + 6) {
            Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => Ok(at + 6),
            _ => Err(ScanError::Invalid(at)),
        },
        _ => Err(ScanError::Invalid(at)),
    }
}

/// The position of the first byte at or after `i` that is `"`, `\` or a control character
/// (or the end): eight bytes at a time.
#[inline(always)]
fn special_from(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let quote = has_zero(word ^ (ONES * u64::from(b'"')));
        let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
        // Bytes below 0x20 (ASCII only: bytes >= 0x80 have the high bit set and are masked).
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
        let mask = quote | backslash | control;
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference is what ingest used before: serde_json's own validation
    /// (`IgnoredAny`, which, like us, does not range-check numbers) and its object parse.
    fn agree(text: &str) {
        let ours = scan_object(text, 1000);
        let valid = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
        let object = crate::event::Fields::parse(text).is_ok();
        match (&ours, valid, object) {
            (Ok(pairs), true, true) => {
                let via_serde: Vec<(String, String)> = crate::event::Fields::parse(text)
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
                    .collect();
                let ours: Vec<(String, String)> = pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.get().to_owned()))
                    .collect();
                assert_eq!(ours, via_serde, "{text:?}");
            }
            (Err(ScanError::NotAnObject), true, false) => {}
            (Err(ScanError::Invalid(_)), false, false) => {}
            _ => {
                panic!("disagree on {text:?}: ours {ours:?}, serde valid {valid}, object {object}")
            }
        }
    }

    #[test]
    fn agrees_with_serde_json_on_edge_cases() {
        for text in [
            "{}",
            " { } ",
            r#"{"a":1}"#,
            r#"{"a":1,}"#,
            r#"{"a"}"#,
            r#"{"a":}"#,
            "{,}",
            "[]",
            "1",
            "\"s\"",
            "null",
            "tru",
            "{\"a\":tru}",
            r#"{"a":"\u00e9\ud83c\udf0d"}"#,
            r#"{"a":"\ud83c"}"#,
            r#"{"a":"\udf0d"}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12G4"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":01}"#,
            r#"{"a":-0.5e+10}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":-}"#,
            r#"{"a":1e}"#,
            r#"{"a":[1,2,]}"#,
            r#"{"a":[,]}"#,
            r#"{"a":{"b":{"c":[true,false,null]}}}"#,
            "{\"a\":1}x",
            "{\"a\":1} ",
            "",
            "{\"k\\\"q\":1}",
            r#"{"a":"é🌍"}"#,
            "{\"a\":1\n,\r\"b\"\t:\n2}",
            r#"{"a":1e999}"#,
            r#"{"a":-1e-999}"#,
            r#"{"a":123456789012345678901234567890}"#,
        ] {
            agree(text);
        }
    }

    #[test]
    fn depth_is_limited() {
        assert_eq!(scan_object(r#"{"a":[[1]]}"#, 2), Err(ScanError::TooDeep(2)));
        assert!(scan_object(r#"{"a":[[1]]}"#, 3).is_ok());
        assert!(scan_object(r#"{"a":"[[[[[["}"#, 1).is_ok());
    }

    /// Past 64 levels the scanner's record of open containers spills to the heap: arrays and
    /// objects mixed at every level still close in the right order, and the limit still holds.
    #[test]
    fn deep_nesting_of_both_kinds_closes_in_order() {
        for levels in [63, 64, 65, 127, 128, 129, 300] {
            let (mut open, mut close) = (String::new(), String::new());
            for i in 0..levels {
                if i % 3 == 0 {
                    open.push_str(r#"{"k":"#);
                    close.insert(0, '}');
                } else {
                    open.push('[');
                    close.insert_str(0, r#","x"]"#);
                }
            }
            let text = format!(r#"{{"a":{open}1{close},"b":2}}"#);
            agree(&text);
            assert!(scan_object(&text, levels + 1).is_ok());
            assert_eq!(scan_object(&text, levels), Err(ScanError::TooDeep(levels)));
            // A closer of the wrong kind deep inside is an error, not a skipped byte.
            let wrong = text.replacen("\"x\"]", "\"x\"}", 1);
            assert!(matches!(
                scan_object(&wrong, 1000),
                Err(ScanError::Invalid(_))
            ));
        }
    }

    /// A nested split gives the outer pairs [`scan_object`] gives, and the member's own pairs
    /// when it is an object; it fails exactly when [`scan_object`] does.
    fn nested_agrees(text: &str) {
        let mut outer = Vec::new();
        let mut inner = Vec::new();
        let result = scan_object_nested(
            text,
            1000,
            "k",
            |k, v| outer.push((k, v)),
            |k, v| inner.push((k, v)),
        );
        let plain = scan_object(text, 1000);
        assert_eq!(result.is_ok(), plain.is_ok(), "{text:?}");
        if let Ok(pairs) = plain {
            assert_eq!(outer, pairs, "{text:?}");
            let member = pairs.iter().filter(|(k, _)| k == "k").map(|(_, v)| v.get());
            let expected: Vec<_> = member
                .filter(|v| v.starts_with('{'))
                .flat_map(|v| scan_object(v, 1000).unwrap())
                .collect();
            assert_eq!(inner, expected, "{text:?}");
        }
    }

    #[test]
    fn nested_members_obey_the_depth_limit() {
        let text = r#"{"k":{"a":[1]},"b":2}"#;
        let split = |depth| scan_object_nested(text, depth, "k", |_, _| {}, |_, _| {});
        assert_eq!(split(2), Err(ScanError::TooDeep(2)));
        assert!(split(3).is_ok());
        assert_eq!(split(0), Err(ScanError::TooDeep(0)));
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_random_objects(v in json_value(4)) {
            let text = serde_json::json!({"k": v, "x": "y"}).to_string();
            agree(&text);
            nested_agrees(&text);
            // Damaged copies too: cut short, or with a byte replaced.
            for cut in [text.len() / 2, text.len().saturating_sub(1)] {
                if text.is_char_boundary(cut) {
                    agree(&text[..cut]);
                    nested_agrees(&text[..cut]);
                }
            }
        }

        #[test]
        fn agrees_with_serde_json_on_arbitrary_text(s in "[{}\\[\\]\",:0-9a-z\\\\ .eE+-]{0,40}") {
            agree(&s);
        }

        #[test]
        fn agrees_with_serde_json_on_any_text(s in "(\\PC|[\t\n\u{1}\\\\\"{}])*") {
            agree(&s);
            agree(&format!("{{\"k\":\"{s}\"}}"));
        }
    }

    fn json_value(depth: u32) -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(depth, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::hash_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
