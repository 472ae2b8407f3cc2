//! The JSON form of a [`Document`]: Learning Observer's `google_text.json`.
//!
//! `{"text", "position", "edit_metadata": {"cursor": [..], "length": [..]}[, "tabs": {id:
//! {..}}]}`, text with its placeholders, tabs only when there are any (in the order they were
//! created), nested tabs recursively. One field is ours: `unknown_commands`, written only
//! when non-zero, so a state from normal traffic is byte-for-byte Learning Observer's shape.
//! Reading is as lenient as Learning Observer's `from_json`: every field may be missing.

use super::document::Document;
use super::edit_metadata::EditMetadata;
use super::text::Text;
use ropey::Rope;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Writes the rope chunk by chunk, so serializing never copies the text.
struct RopeText<'a>(&'a Rope);

impl fmt::Display for RopeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.chunks().try_for_each(|chunk| f.write_str(chunk))
    }
}

impl Serialize for RopeText<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The tabs as a JSON object, in creation order.
struct Tabs<'a>(&'a [(String, Document)]);

impl Serialize for Tabs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(id, doc)| (id, doc)))
    }
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let extra = usize::from(!self.tabs.is_empty()) + usize::from(self.unknown_commands > 0);
        let mut map = serializer.serialize_map(Some(3 + extra))?;
        map.serialize_entry("text", &RopeText(self.text.rope()))?;
        map.serialize_entry("position", &self.position)?;
        map.serialize_entry("edit_metadata", &self.edit_metadata)?;
        if !self.tabs.is_empty() {
            map.serialize_entry("tabs", &Tabs(&self.tabs))?;
        }
        if self.unknown_commands > 0 {
            map.serialize_entry("unknown_commands", &self.unknown_commands)?;
        }
        map.end()
    }
}

/// Reads a JSON object of tabs, keeping the order.
struct TabsIn(Vec<(String, Document)>);

impl<'de> Deserialize<'de> for TabsIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TabsVisitor;
        impl<'de> Visitor<'de> for TabsVisitor {
            type Value = TabsIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of tabs")
            }
            fn visit_unit<E>(self) -> Result<TabsIn, E> {
                Ok(TabsIn(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TabsIn, A::Error> {
                let mut tabs: Vec<(String, Document)> = Vec::new();
                while let Some((id, doc)) = map.next_entry::<String, Document>()? {
                    match tabs.iter_mut().find(|(t, _)| *t == id) {
                        Some(slot) => slot.1 = doc,
                        None => tabs.push((id, doc)),
                    }
                }
                Ok(TabsIn(tabs))
            }
        }
        deserializer.deserialize_any(TabsVisitor)
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Repr {
            #[serde(default)]
            text: String,
            #[serde(default)]
            position: i64,
            #[serde(default)]
            edit_metadata: Option<EditMetadata>,
            #[serde(default)]
            tabs: Option<TabsIn>,
            #[serde(default)]
            unknown_commands: u64,
        }
        let repr = Option::<Repr>::deserialize(deserializer)?;
        let Some(repr) = repr else {
            return Ok(Document::new());
        };
        Ok(Document {
            text: Text::from(repr.text.as_str()),
            position: repr.position,
            edit_metadata: repr.edit_metadata.unwrap_or_default(),
            tabs: repr.tabs.map(|t| t.0).unwrap_or_default(),
            unknown_commands: repr.unknown_commands,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconstruct::{Command, Limits};
    use serde_json::json;

    fn doc(commands: &[Command]) -> Document {
        let mut doc = Document::new();
        doc.apply_all(commands, &Limits::default());
        doc
    }

    #[test]
    fn shape_is_learning_observers() {
        let d = doc(&[Command::Insert {
            ibi: 3,
            s: "a😀".into(),
        }]);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json,
            json!({"text": "\u{0}\u{0}a😀", "position": 5,
                   "edit_metadata": {"cursor": [3, 5], "length": [2, 4]}})
        );
        assert_eq!(
            serde_json::to_string(&Document::new()).unwrap(),
            r#"{"text":"","position":0,"edit_metadata":{"cursor":[],"length":[]}}"#
        );
    }

    #[test]
    fn round_trips_with_tabs_and_counters() {
        let d = doc(&[
            Command::Insert {
                ibi: 1,
                s: "main".into(),
            },
            Command::Named {
                tab: Some("t.z".into()),
                command: Box::new(Command::Insert {
                    ibi: 1,
                    s: "z".into(),
                }),
            },
            Command::Named {
                tab: Some("t.a".into()),
                command: Box::new(Command::Unknown("qq".into())),
            },
        ]);
        let text = serde_json::to_string(&d).unwrap();
        assert!(text.contains(r#""tabs":{"t.z":"#), "{text}");
        assert!(text.contains(r#""unknown_commands":1"#), "{text}");
        let back: Document = serde_json::from_str(&text).unwrap();
        assert_eq!(back, d);
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
        let ids: Vec<_> = back.tabs().map(|(id, _)| id).collect();
        assert_eq!(ids, ["t.z", "t.a"]);
    }

    #[test]
    fn reads_partial_and_null_states_like_from_json() {
        let d: Document = serde_json::from_str("null").unwrap();
        assert_eq!(d, Document::new());
        let d: Document = serde_json::from_str(r#"{"text": "ab", "tabs": {}}"#).unwrap();
        assert_eq!(d.raw_text(), "ab");
        assert_eq!(d.position(), 0);
        assert_eq!(d.tabs().len(), 0);
    }
}
