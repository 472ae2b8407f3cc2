//! Google Docs commands, parsed from JSON with Learning Observer's acceptance rules.
//!
//! Learning Observer dispatches on a command's `ty` and calls the handler with the command's
//! fields as keyword arguments, so a command with a missing or an unexpected field raises, and
//! the whole event is dropped (the reducer's state is not written). We parse every command of
//! an event before applying any: a [`CommandError`] means "Learning Observer would have
//! raised", and the event leaves the state untouched, just as it does there. Commands Learning
//! Observer knows but ignores (formatting, suggestions, tab titles) parse to
//! [`Command::Ignored`]; a `ty` it does not know parses to [`Command::Unknown`], which is
//! counted and logged but never fatal.

use serde_json::{Map, Value};
use thiserror::Error;

/// One Google Docs command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `is`: insert `s` before the 1-based index `ibi`.
    Insert {
        /// 1-based index the text goes before.
        ibi: i64,
        /// The inserted text.
        s: String,
    },
    /// `ds`: delete the 1-based inclusive range `si..=ei`.
    Delete {
        /// First deleted index (1-based).
        si: i64,
        /// Last deleted index (1-based, inclusive).
        ei: i64,
    },
    /// `mlti`: a batch of commands applied in order.
    Multi(Vec<Command>),
    /// `rplc` / `rvrt`: replace runs of text without moving the cursor.
    Replace(Vec<ReplaceEntry>),
    /// `nm`: a command addressed to a tab (`None`: to the main document).
    Named {
        /// The target tab: the last `"t.*"` string of `nmr`.
        tab: Option<String>,
        /// The command to run there.
        command: Box<Command>,
    },
    /// A command Learning Observer deliberately ignores (`as`, `ucp`, `mkch`, ...).
    Ignored,
    /// A `ty` Learning Observer does not know; counted and ignored.
    Unknown(String),
}

/// One `{"ty": "is", "ibi", "s"[, "sl"]}` entry of a `rplc`/`rvrt` snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplaceEntry {
    /// 1-based index where the replaced run starts.
    pub ibi: i64,
    /// The new text.
    pub s: String,
    /// How many code points are replaced (default: as many as `s` has).
    pub sl: Option<i64>,
}

/// A command Learning Observer would have raised on (so the event changes nothing).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CommandError {
    /// A command is not a JSON object.
    #[error("a command is not a JSON object")]
    NotAnObject,
    /// A command has no `ty`.
    #[error("a command has no `ty` field")]
    MissingType,
    /// A command's `ty` is a list or an object.
    #[error("a command's `ty` is a list or an object")]
    UnhashableType,
    /// A command carries a field its handler does not take.
    #[error("`{command}` command has an unexpected field `{field}`")]
    UnexpectedField {
        /// The command type.
        command: &'static str,
        /// The field.
        field: String,
    },
    /// A command lacks a field its handler needs.
    #[error("`{command}` command lacks the field `{field}`")]
    MissingField {
        /// The command type.
        command: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field has a type the handler cannot work with.
    #[error("field `{field}` of a `{command}` command has the wrong type")]
    WrongType {
        /// The command type.
        command: &'static str,
        /// The field.
        field: &'static str,
    },
}

/// Command types Learning Observer maps to its no-op handler.
const IGNORED: &[&str] = &[
    "ac", "ae", "ase", "ast", "astss", "ue", "de", "dse", "dss", "te", "iss", "mefd", "mkch",
    "msfd", "null", "ord", "ras", "rte", "rue", "sas", "sl", "ste", "sue", "ucp", "uefd", "use",
    "umv", "usfd",
];

impl Command {
    /// Parses one command.
    ///
    /// # Errors
    /// When Learning Observer would raise on it (see [`CommandError`]).
    pub fn parse(value: &Value) -> Result<Command, CommandError> {
        let Value::Object(fields) = value else {
            return Err(CommandError::NotAnObject);
        };
        // The handler's first parameter is the document, named `doc`: a field of that name
        // collides with it.
        if fields.contains_key("doc") {
            return Err(CommandError::UnexpectedField {
                command: "command",
                field: "doc".to_owned(),
            });
        }
        let ty = match fields.get("ty") {
            None => return Err(CommandError::MissingType),
            Some(Value::String(ty)) => ty.as_str(),
            Some(Value::Array(_) | Value::Object(_)) => return Err(CommandError::UnhashableType),
            Some(other) => return Ok(Command::Unknown(other.to_string())),
        };
        match ty {
            "is" => {
                only(fields, "is", &["ty", "ibi", "s"])?;
                Ok(Command::Insert {
                    ibi: int(fields, "is", "ibi")?,
                    s: string(fields, "is", "s")?,
                })
            }
            "ds" => {
                only(fields, "ds", &["ty", "si", "ei"])?;
                Ok(Command::Delete {
                    si: int(fields, "ds", "si")?,
                    ei: int(fields, "ds", "ei")?,
                })
            }
            "mlti" => {
                only(fields, "mlti", &["ty", "mts"])?;
                let mts = required(fields, "mlti", "mts")?;
                Ok(Command::Multi(parse_list(mts, "mlti", "mts")?))
            }
            "rplc" | "rvrt" => {
                let name = if ty == "rplc" { "rplc" } else { "rvrt" };
                only(fields, name, &["ty", "snapshot"])?;
                let snapshot = required(fields, name, "snapshot")?;
                Ok(Command::Replace(parse_snapshot(snapshot, name)?))
            }
            "nm" => {
                let nmc = required(fields, "nm", "nmc")?;
                let nmr = required(fields, "nm", "nmr")?;
                let tab = target_tab(nmr)?;
                Ok(Command::Named {
                    tab,
                    command: Box::new(Command::parse(nmc)?),
                })
            }
            "as" => {
                // Formatting: ignored, but its handler takes exactly these fields.
                only(fields, "as", &["ty", "si", "ei", "st", "sm"])?;
                for field in ["si", "ei", "st", "sm"] {
                    required(fields, "as", field)?;
                }
                Ok(Command::Ignored)
            }
            ty if IGNORED.contains(&ty) => Ok(Command::Ignored),
            ty => Ok(Command::Unknown(ty.to_owned())),
        }
    }
}

/// Parses a list of commands (`mts`, a bundle's `commands`, ...).
///
/// Python iterates whatever it is given: an empty object or string is an empty list, anything
/// else that is not a list fails.
pub(crate) fn parse_list(
    value: &Value,
    command: &'static str,
    field: &'static str,
) -> Result<Vec<Command>, CommandError> {
    match value {
        Value::Array(items) => items.iter().map(Command::parse).collect(),
        Value::Object(map) if map.is_empty() => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        _ => Err(CommandError::WrongType { command, field }),
    }
}

fn parse_snapshot(value: &Value, command: &'static str) -> Result<Vec<ReplaceEntry>, CommandError> {
    let wrong = CommandError::WrongType {
        command,
        field: "snapshot",
    };
    let items = match value {
        Value::Array(items) => items,
        // Iterating a string gives single characters, none of which contains "ty".
        Value::String(_) => return Ok(Vec::new()),
        // Iterating an object gives its keys; a key containing "ty" is then indexed and fails.
        Value::Object(map) if map.keys().all(|k| !k.contains("ty")) => return Ok(Vec::new()),
        _ => return Err(wrong),
    };
    let mut entries = Vec::new();
    for item in items {
        match item {
            Value::Object(entry) => {
                if entry.get("ty").and_then(Value::as_str) != Some("is") {
                    continue;
                }
                let s = string(entry, command, "s")?;
                let ibi = int(entry, command, "ibi")?;
                let sl = match entry.get("sl") {
                    None => None,
                    Some(v) => Some(as_int(v).ok_or(CommandError::WrongType {
                        command,
                        field: "sl",
                    })?),
                };
                entries.push(ReplaceEntry { ibi, s, sl });
            }
            // `'ty' in entry` is a substring / membership test; only a hit goes on to fail.
            Value::String(s) if !s.contains("ty") => {}
            Value::Array(list) if !list.iter().any(|v| v.as_str() == Some("ty")) => {}
            _ => return Err(wrong),
        }
    }
    Ok(entries)
}

/// The target tab of an `nm` command: the last string of `nmr` that starts with `t.`.
fn target_tab(nmr: &Value) -> Result<Option<String>, CommandError> {
    let is_tab = |s: &&str| s.starts_with("t.");
    Ok(match nmr {
        Value::Array(items) => items
            .iter()
            .rev()
            .filter_map(Value::as_str)
            .find(is_tab)
            .map(str::to_owned),
        Value::Object(map) => map
            .keys()
            .rev()
            .map(String::as_str)
            .find(is_tab)
            .map(str::to_owned),
        // `nmr or []`: falsy values are an empty list; strings iterate as single characters.
        Value::Null | Value::Bool(false) | Value::String(_) => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        _ => {
            return Err(CommandError::WrongType {
                command: "nm",
                field: "nmr",
            });
        }
    })
}

fn only(
    fields: &Map<String, Value>,
    command: &'static str,
    allowed: &[&str],
) -> Result<(), CommandError> {
    match fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(field) => Err(CommandError::UnexpectedField {
            command,
            field: field.clone(),
        }),
        None => Ok(()),
    }
}

fn required<'v>(
    fields: &'v Map<String, Value>,
    command: &'static str,
    field: &'static str,
) -> Result<&'v Value, CommandError> {
    fields
        .get(field)
        .ok_or(CommandError::MissingField { command, field })
}

fn int(
    fields: &Map<String, Value>,
    command: &'static str,
    field: &'static str,
) -> Result<i64, CommandError> {
    as_int(required(fields, command, field)?).ok_or(CommandError::WrongType { command, field })
}

fn string(
    fields: &Map<String, Value>,
    command: &'static str,
    field: &'static str,
) -> Result<String, CommandError> {
    match required(fields, command, field)? {
        Value::String(s) => Ok(s.clone()),
        _ => Err(CommandError::WrongType { command, field }),
    }
}

/// A Python int from JSON: integers, and booleans (Python's `True` is 1).
fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Command, CommandError> {
        Command::parse(&v)
    }

    #[test]
    fn parses_inserts_and_deletes() {
        assert_eq!(
            parse(json!({"ty": "is", "ibi": 3, "s": "ab"})),
            Ok(Command::Insert {
                ibi: 3,
                s: "ab".into()
            })
        );
        assert_eq!(
            parse(json!({"ei": 5, "si": 3, "ty": "ds"})),
            Ok(Command::Delete { si: 3, ei: 5 })
        );
        assert_eq!(
            parse(json!({"ty": "is", "ibi": true, "s": "x"})),
            Ok(Command::Insert {
                ibi: 1,
                s: "x".into()
            })
        );
    }

    #[test]
    fn rejects_what_python_would_raise_on() {
        assert_eq!(parse(json!("is")), Err(CommandError::NotAnObject));
        assert_eq!(parse(json!({"ibi": 1})), Err(CommandError::MissingType));
        assert_eq!(
            parse(json!({"ty": ["is"]})),
            Err(CommandError::UnhashableType)
        );
        assert!(matches!(
            parse(json!({"ty": "is", "ibi": 1, "s": "x", "sugid": "a"})),
            Err(CommandError::UnexpectedField { command: "is", .. })
        ));
        assert!(matches!(
            parse(json!({"ty": "ds", "si": 1})),
            Err(CommandError::MissingField { field: "ei", .. })
        ));
        assert!(matches!(
            parse(json!({"ty": "is", "ibi": 1.5, "s": "x"})),
            Err(CommandError::WrongType { field: "ibi", .. })
        ));
        assert!(matches!(
            parse(json!({"ty": "as", "si": 1, "ei": 2})),
            Err(CommandError::MissingField { field: "st", .. })
        ));
        assert!(parse(json!({"ty": "null", "doc": 1})).is_err());
        assert!(parse(json!({"ty": "mlti", "mts": null})).is_err());
        assert!(parse(json!({"ty": "mlti", "mts": [{"ty": "is"}]})).is_err());
    }

    #[test]
    fn known_no_ops_and_unknown_types() {
        assert_eq!(
            parse(json!({"ty": "as", "si": 1, "ei": 2, "st": "text", "sm": {}})),
            Ok(Command::Ignored)
        );
        assert_eq!(
            parse(json!({"ty": "ucp", "d": ["t.1"]})),
            Ok(Command::Ignored)
        );
        assert_eq!(
            parse(json!({"ty": "zz", "x": 1})),
            Ok(Command::Unknown("zz".into()))
        );
        assert_eq!(parse(json!({"ty": 7})), Ok(Command::Unknown("7".into())));
        assert_eq!(
            parse(json!({"ty": null})),
            Ok(Command::Unknown("null".into()))
        );
    }

    #[test]
    fn nested_commands() {
        let cmd = parse(json!({"ty": "mlti", "mts": [
            {"ty": "is", "ibi": 1, "s": "a"},
            {"ty": "mlti", "mts": [{"ty": "ds", "si": 1, "ei": 1}]}
        ]}))
        .unwrap();
        assert_eq!(
            cmd,
            Command::Multi(vec![
                Command::Insert {
                    ibi: 1,
                    s: "a".into()
                },
                Command::Multi(vec![Command::Delete { si: 1, ei: 1 }]),
            ])
        );
        assert_eq!(
            parse(json!({"ty": "mlti", "mts": {}})),
            Ok(Command::Multi(vec![]))
        );
    }

    #[test]
    fn named_commands_pick_the_last_tab() {
        let cmd = parse(json!({"ty": "nm", "nmc": {"ty": "is", "ibi": 1, "s": "x"},
                               "nmr": ["t.a", 3, "t.b", "x"], "extra": 1}))
        .unwrap();
        assert_eq!(
            cmd,
            Command::Named {
                tab: Some("t.b".into()),
                command: Box::new(Command::Insert {
                    ibi: 1,
                    s: "x".into()
                }),
            }
        );
        let main = parse(json!({"ty": "nm", "nmc": {"ty": "null"}, "nmr": null})).unwrap();
        assert_eq!(
            main,
            Command::Named {
                tab: None,
                command: Box::new(Command::Ignored)
            }
        );
        assert!(parse(json!({"ty": "nm", "nmc": {"ty": "null"}, "nmr": 3})).is_err());
        assert!(parse(json!({"ty": "nm", "nmr": []})).is_err());
    }

    #[test]
    fn replace_snapshots() {
        let cmd = parse(json!({"ty": "rplc", "snapshot": [
            {"ty": "is", "ibi": 1, "s": "abc"},
            {"ty": "as", "si": 1},
            {"ty": "is", "ibi": 2, "s": "z", "sl": 0},
            "xx", []
        ]}))
        .unwrap();
        assert_eq!(
            cmd,
            Command::Replace(vec![
                ReplaceEntry {
                    ibi: 1,
                    s: "abc".into(),
                    sl: None
                },
                ReplaceEntry {
                    ibi: 2,
                    s: "z".into(),
                    sl: Some(0)
                },
            ])
        );
        assert!(parse(json!({"ty": "rvrt", "snapshot": [{"ty": "is", "ibi": 1}]})).is_err());
        assert!(parse(json!({"ty": "rvrt", "snapshot": ["type"]})).is_err());
        assert!(parse(json!({"ty": "rvrt", "snapshot": null})).is_err());
        assert_eq!(
            parse(json!({"ty": "rvrt", "snapshot": "abc"})),
            Ok(Command::Replace(vec![]))
        );
    }
}
