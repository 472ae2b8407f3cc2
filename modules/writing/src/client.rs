//! Read access to a client event's top-level fields, whatever holds them.
//!
//! The pure analytics in this crate read events through [`ClientFields`], so they run the same
//! on the core's log-backed events and on plain JSON objects (tests, conformance data).

use serde_json::{Map, Value};
use std::borrow::Cow;

/// The top-level fields of a client event (after lock fields are merged).
pub trait ClientFields {
    /// The event type (`"event"`), empty when missing.
    fn kind(&self) -> Cow<'_, str>;

    /// A field as JSON, `None` when missing.
    fn value(&self, name: &str) -> Option<Value>;

    /// A field that is a string; `None` when missing or not a string.
    fn string(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.value(name)? {
            Value::String(s) => Some(Cow::Owned(s)),
            _ => None,
        }
    }

    /// The raw JSON text of a field, when the fields are kept unparsed (default: `None`).
    fn raw_json(&self, _name: &str) -> Option<Cow<'_, str>> {
        None
    }

    /// `client.<name>.<key>` when the field `name` is an object holding `key`.
    fn member(&self, name: &str, key: &str) -> Option<Value> {
        match self.value(name)? {
            Value::Object(mut object) => object.remove(key),
            _ => None,
        }
    }

    /// `client.<name>.<key>` when it is a string: borrowed where the fields allow (the
    /// reducers compare URLs and titles of every event, and a parsed `Value` would be an
    /// allocation each time).
    fn member_str(&self, name: &str, key: &str) -> Option<Cow<'_, str>> {
        match self.member(name, key)? {
            Value::String(s) => Some(Cow::Owned(s)),
            _ => None,
        }
    }

    /// Whether the raw JSON of a field may contain `needle` (a cheap pre-filter; the default
    /// says yes).
    fn may_contain(&self, _name: &str, _needle: &str) -> bool {
        true
    }
}

impl ClientFields for Map<String, Value> {
    fn kind(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.get("event").and_then(Value::as_str).unwrap_or(""))
    }

    fn value(&self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }

    fn string(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).and_then(Value::as_str).map(Cow::Borrowed)
    }

    fn member_str(&self, name: &str, key: &str) -> Option<Cow<'_, str>> {
        self.get(name)?.get(key)?.as_str().map(Cow::Borrowed)
    }
}

/// `client.object.<name>` when `object` is an object holding `name`.
pub(crate) fn object_field(client: &impl ClientFields, name: &str) -> Option<Value> {
    client.member("object", name)
}

/// A JSON string borrowed from the input when it has no escapes (serde's `Cow<str>` always
/// copies).
pub(crate) struct JsonStr<'de>(pub Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for JsonStr<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<JsonStr<'de>, E> {
                Ok(JsonStr(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<JsonStr<'de>, E> {
                Ok(JsonStr(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<JsonStr<'de>, E> {
                Ok(JsonStr(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Deserializes one member of a JSON object, skipping the others unparsed; `None` when the
/// value is not an object or lacks the member.
pub struct Member<'k>(pub &'k str);

impl<'de> serde::de::DeserializeSeed<'de> for Member<'_> {
    type Value = Option<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Member<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<Option<Value>, A::Error> {
        let mut found = None;
        while let Some(JsonStr(key)) = map.next_key::<JsonStr<'de>>()? {
            if key == self.0 {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<Option<Value>, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
}

/// Where the members of the writing extension's `object` that the reducers read sit in its
/// raw JSON, found in one pass (values are parsed only when asked for, and nothing is
/// allocated to find them).
#[derive(Debug, Default)]
pub(crate) struct ObjectMembers {
    id: Option<(usize, usize)>,
    url: Option<(usize, usize)>,
    title: Option<(usize, usize)>,
    tab_id: Option<(usize, usize)>,
    kind: Option<(usize, usize)>,
}

impl ObjectMembers {
    /// Finds the members in `raw`; `None` when it is not an object.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        if !raw.trim_start().starts_with('{') {
            return None;
        }
        let base = raw.as_ptr() as usize;
        let mut found = ObjectMembers::default();
        classpulse_core::event::scan::scan_object_with(raw, 1000, |key, value| {
            let start = value.get().as_ptr() as usize - base;
            let range = Some((start, start + value.get().len()));
            // The last occurrence wins, as in a parsed JSON object.
            match key.as_ref() {
                "id" => found.id = range,
                "url" => found.url = range,
                "title" => found.title = range,
                "tab_id" => found.tab_id = range,
                "type" => found.kind = range,
                _ => {}
            }
        })
        .ok()?;
        Some(found)
    }

    /// A member of `raw` (the same text [`ObjectMembers::parse`] saw): `Some(None)` when
    /// absent, `None` when it is not one this type keeps.
    pub(crate) fn get(&self, raw: &str, key: &str) -> Option<Option<Value>> {
        let range = self.range(key)?;
        Some(range.and_then(|(s, e)| serde_json::from_str(raw.get(s..e)?).ok()))
    }

    /// [`ObjectMembers::get`] for a member that is a string: borrowed from `raw` unless it has
    /// escapes; `Some(None)` when absent or not a string.
    pub(crate) fn get_str<'r>(&self, raw: &'r str, key: &str) -> Option<Option<Cow<'r, str>>> {
        let range = self.range(key)?;
        Some(range.and_then(|(s, e)| json_string(raw.get(s..e)?)))
    }

    /// Where member `key` sits: `Some(None)` when absent, `None` when it is not one this type
    /// keeps.
    fn range(&self, key: &str) -> Option<Option<(usize, usize)>> {
        Some(match key {
            "id" => self.id,
            "url" => self.url,
            "title" => self.title,
            "tab_id" => self.tab_id,
            "type" => self.kind,
            _ => return None,
        })
    }
}

/// The string a JSON value holds (`None` for any other value): borrowed unless it has
/// escapes.
fn json_string(json: &str) -> Option<Cow<'_, str>> {
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(json).ok().map(Cow::Owned)
}

/// `member` for a raw JSON value.
pub(crate) fn raw_member(raw: &str, key: &str) -> Option<Value> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(raw);
    Member(key).deserialize(&mut de).ok().flatten()
}
