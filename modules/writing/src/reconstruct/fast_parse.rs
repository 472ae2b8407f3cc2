//! A fast path for parsing the saves typing produces, straight from the raw JSON.
//!
//! Almost every `google_docs_save` is `is`, `ds` and `mlti` commands with exactly their
//! fields. [`save_commands`] parses those without building a `serde_json::Value`; on anything
//! else — another command type, an extra or repeated field, a boolean index, malformed
//! JSON — it gives up (`None`) and the caller takes the general path ([`super::Edit::from_save`]),
//! which applies all of Learning Observer's rules. Whatever the fast path accepts, it parses to
//! exactly what the general path would.

use super::command::Command;
use crate::client::JsonStr;
use serde::Deserializer;
use serde::de::{DeserializeSeed, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The commands of a `bundles` field, in order; `None` when the fast path does not apply.
pub fn save_commands(bundles: &str) -> Option<Vec<Command>> {
    let mut de = serde_json::Deserializer::from_str(bundles);
    let mut commands = Vec::new();
    de.deserialize_seq(Bundles(&mut commands)).ok()?;
    de.end().ok()?;
    Some(commands)
}

/// Gives up on the fast path.
fn bail<E: Error>() -> E {
    E::custom("not on the fast path")
}

struct Bundles<'v>(&'v mut Vec<Command>);

impl<'de> Visitor<'de> for Bundles<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of bundles")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Bundle(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct Bundle<'v>(&'v mut Vec<Command>);

impl<'de> DeserializeSeed<'de> for Bundle<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Bundle<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bundle")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(JsonStr(key)) = map.next_key::<JsonStr<'de>>()? {
            if key == "commands" {
                if seen {
                    return Err(bail());
                }
                seen = true;
                map.next_value_seed(CommandList(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if seen { Ok(()) } else { Err(bail()) }
    }
}

struct CommandList<'v>(&'v mut Vec<Command>);

impl<'de> DeserializeSeed<'de> for CommandList<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CommandList<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of commands")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(command) = seq.next_element_seed(OneCommand)? {
            self.0.push(command);
        }
        Ok(())
    }
}

struct OneCommand;

impl<'de> DeserializeSeed<'de> for OneCommand {
    type Value = Command;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Command, D::Error> {
        d.deserialize_map(self)
    }
}

/// Sets a field once; a repeated field leaves the fast path.
fn once<T, E: Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(bail());
    }
    Ok(())
}

impl<'de> Visitor<'de> for OneCommand {
    type Value = Command;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a command")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Command, A::Error> {
        let mut ty: Option<Cow<'de, str>> = None;
        let (mut ibi, mut si, mut ei) = (None, None, None);
        let mut s: Option<Cow<'de, str>> = None;
        let mut mts: Option<Vec<Command>> = None;
        while let Some(JsonStr(key)) = map.next_key::<JsonStr<'de>>()? {
            match key.as_ref() {
                "ty" => once(&mut ty, map.next_value::<JsonStr<'de>>()?.0)?,
                "ibi" => once(&mut ibi, map.next_value::<i64>()?)?,
                "si" => once(&mut si, map.next_value::<i64>()?)?,
                "ei" => once(&mut ei, map.next_value::<i64>()?)?,
                "s" => once(&mut s, map.next_value::<JsonStr<'de>>()?.0)?,
                "mts" => {
                    let mut list = Vec::new();
                    map.next_value_seed(CommandList(&mut list))?;
                    once(&mut mts, list)?;
                }
                _ => return Err(bail()),
            }
        }
        match (ty.as_deref(), ibi, s, si, ei, mts) {
            (Some("is"), Some(ibi), Some(s), None, None, None) => Ok(Command::Insert {
                ibi,
                s: s.into_owned(),
            }),
            (Some("ds"), None, None, Some(si), Some(ei), None) => Ok(Command::Delete { si, ei }),
            (Some("mlti"), None, None, None, None, Some(mts)) => Ok(Command::Multi(mts)),
            _ => Err(bail()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconstruct::Edit;

    /// The fast path, where it applies, agrees with the general path.
    fn agrees(bundles: &str) -> bool {
        let general = Edit::from_save(serde_json::from_str(bundles).ok().as_ref());
        match save_commands(bundles) {
            Some(fast) => {
                assert_eq!(Ok(Edit::Apply(fast)), general, "{bundles}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn typing_takes_the_fast_path() {
        assert!(agrees(
            r#"[{"commands":[{"ibi":1,"s":"Hi LO","ty":"is"}],"reqId":0,"sid":"abc"}]"#
        ));
        assert!(agrees(
            r#"[{"commands":[{"mts":[{"ei":5,"si":3,"ty":"ds"},{"ibi":3,"s":"L\u00e9\ud83d\ude00","ty":"is"}],"ty":"mlti"}]}]"#
        ));
        assert!(agrees(
            r#"[{"commands":[{"ty":"mlti","mts":[{"ty":"mlti","mts":[]}]}]},{"commands":[]}]"#
        ));
        assert!(agrees(r#"[{"commands":[{"ty":"is","ibi":-3,"s":""}]}]"#));
        assert!(agrees("[]"));
    }

    #[test]
    fn anything_else_takes_the_general_path() {
        for bundles in [
            r#"[{"commands":[{"ty":"as","si":1,"ei":2,"st":"text","sm":{}}]}]"#,
            r#"[{"commands":[{"ty":"is","ibi":true,"s":"x"}]}]"#,
            r#"[{"commands":[{"ty":"is","ibi":1.0,"s":"x"}]}]"#,
            r#"[{"commands":[{"ty":"is","ibi":1,"s":"x","sugid":"q"}]}]"#,
            r#"[{"commands":[{"ty":"is","ibi":1,"ibi":2,"s":"x"}]}]"#,
            r#"[{"commands":[{"ty":"is","ibi":1}]}]"#,
            r#"[{"commands":[{"ty":"ds","si":1,"ei":2,"s":"x"}]}]"#,
            r#"[{"commands":[]},{"x":1}]"#,
            r#"[{"commands":[],"commands":[]}]"#,
            r#"[{"commands":{}}]"#,
            r#"{}"#,
            r#"[{"commands":[{"ty":"is","ibi":99999999999999999999,"s":"x"}]}]"#,
            r#"[{"commands":[{"ty":"nm","nmc":{"ty":"is","ibi":1,"s":"x"},"nmr":["t.1"]}]}]"#,
            r#"[{"commands":[]}] x"#,
        ] {
            assert!(!agrees(bundles), "{bundles}");
        }
    }
}
