//! A document's tabs, with titles and last access (Learning Observer's `tab_list`, per
//! student and document).
//!
//! Titles come from the commands of `google_docs_save` / `document_history` events, at the top
//! level or one `mlti` deep: `ucp` (tab `d[0]`, title `d[1][1][1]`), `mkch` (tab `t.0`, title
//! `d[0][1]`), `ac` (tab `d[0]`, title `d[1][1]`). The active tab is the event's `tab_id`, or
//! `tab=` in its `url` / `object.url`. Rules, as in Learning Observer:
//! * the active tab's `last_accessed` moves to the event's time only if the tab is known;
//! * a tab first seen in a command is added with its title and the event's time;
//! * a known tab seen in a command gets the new title when there is one, its time unchanged.

use crate::client::ClientFields;
use crate::pycompat::json_key::{json_key, truthy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One tab.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabEntry {
    /// The tab id as it appeared in the command (normally a string like `t.0`).
    pub tab_id: Value,
    /// The title (`null` when the command had none).
    pub title: Value,
    /// Server time (seconds) of the tab's discovery or of the latest event on it.
    pub last_accessed: f64,
}

/// `{"tabs": {tab_id: {"tab_id", "title", "last_accessed"}}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TabList {
    /// By tab id.
    #[serde(default)]
    pub tabs: BTreeMap<String, TabEntry>,
}

/// A `(tab, title)` pair named by a command.
#[derive(Clone, Debug, PartialEq)]
pub struct TabTitle {
    /// The tab's key (its id as a JSON key).
    pub key: String,
    /// The tab id as it appeared.
    pub tab_id: Value,
    /// The title, `None` when the command had none.
    pub title: Option<Value>,
}

/// Python's `value[i]` for the JSON shapes a command holds: list items and string characters.
fn py_index(value: &Value, i: usize) -> Option<Value> {
    match value {
        Value::Array(items) => items.get(i).cloned(),
        Value::String(s) => s.chars().nth(i).map(|c| Value::String(c.to_string())),
        _ => None,
    }
}

fn path(value: &Value, indices: &[usize]) -> Option<Value> {
    let mut current = value.clone();
    for &i in indices {
        current = py_index(&current, i)?;
    }
    Some(current)
}

/// The `(tab, title)` a leaf command names, if any.
fn title_of(command: &serde_json::Map<String, Value>) -> Option<TabTitle> {
    let d = command.get("d").unwrap_or(&Value::Null);
    let (tab_id, title) = match command.get("ty").and_then(Value::as_str)? {
        "ucp" => (path(d, &[0])?, path(d, &[1, 1, 1])?),
        "mkch" => (Value::String("t.0".to_owned()), path(d, &[0, 1])?),
        "ac" => (path(d, &[0])?, path(d, &[1, 1])?),
        _ => return None,
    };
    if tab_id.is_null() {
        return None;
    }
    Some(TabTitle {
        key: json_key(&tab_id)?,
        tab_id,
        title: (!title.is_null()).then_some(title),
    })
}

/// The commands of an event, flattened one `mlti` deep, as Learning Observer walks them for
/// titles.
fn leaf_commands(client: &impl ClientFields) -> Vec<serde_json::Map<String, Value>> {
    let mut top = Vec::new();
    match client.kind().as_ref() {
        "google_docs_save" => {
            if let Some(Value::Array(bundles)) = client.value("bundles") {
                for bundle in bundles {
                    if let Some(Value::Array(commands)) = bundle.get("commands") {
                        top.extend(commands.iter().filter_map(Value::as_object).cloned());
                    }
                }
            }
        }
        "document_history" => {
            if let Some(Value::Array(log)) = client
                .value("history")
                .and_then(|h| h.get("changelog").cloned())
            {
                for entry in log {
                    if let Some(Value::Object(command)) = entry.get(0) {
                        top.push(command.clone());
                    }
                }
            }
        }
        _ => {}
    }
    let mut leaves = Vec::with_capacity(top.len());
    for command in top {
        if command.get("ty").and_then(Value::as_str) == Some("mlti") {
            if let Some(Value::Array(mts)) = command.get("mts") {
                leaves.extend(mts.iter().filter_map(Value::as_object).cloned());
            }
        } else {
            leaves.push(command);
        }
    }
    leaves
}

/// Every `(tab, title)` named by the event's commands, in order.
pub fn tab_titles(client: &impl ClientFields) -> Vec<TabTitle> {
    let field = match client.kind().as_ref() {
        "google_docs_save" => "bundles",
        "document_history" => "history",
        _ => return Vec::new(),
    };
    // Most saves are typing: skip the parse when no title command can be in there.
    if !["\"ucp\"", "\"mkch\"", "\"ac\"", "\\u"]
        .iter()
        .any(|needle| client.may_contain(field, needle))
    {
        return Vec::new();
    }
    leaf_commands(client).iter().filter_map(title_of).collect()
}

/// The tab the event was sent from: `tab_id`, else `tab=` in `url` or `object.url`.
pub fn active_tab(client: &impl ClientFields) -> Option<Cow<'_, str>> {
    match client.string("tab_id") {
        Some(id) if !id.is_empty() => return Some(id),
        Some(_) => {}
        None => {
            if let Some(id) = client.value("tab_id").filter(truthy) {
                return json_key(&id).map(Cow::Owned);
            }
        }
    }
    let url = match client.string("url") {
        Some(url) if !url.is_empty() => url,
        _ => match client.value("url").filter(truthy) {
            Some(url) => Cow::Owned(url.as_str()?.to_owned()),
            None => client.member_str("object", "url")?,
        },
    };
    url.match_indices("tab=").find_map(|(at, _)| {
        let rest = &url[at + 4..];
        let end = rest.find(['&', '#']).unwrap_or(rest.len());
        (end > 0).then(|| Cow::Owned(rest[..end].to_owned()))
    })
}

impl TabList {
    /// Applies one event at `server_time` (seconds). Returns whether the list changed.
    pub fn record_event(&mut self, client: &impl ClientFields, server_time: f64) -> bool {
        let active = active_tab(client);
        self.record(active.as_deref(), tab_titles(client), server_time)
    }

    /// Applies one event's active tab and titles at `server_time`. Returns whether the list
    /// changed.
    pub fn record(
        &mut self,
        active: Option<&str>,
        titles: Vec<TabTitle>,
        server_time: f64,
    ) -> bool {
        let mut changed = false;
        if let Some(tab) = active.and_then(|id| self.tabs.get_mut(id)) {
            changed |= tab.last_accessed != server_time;
            tab.last_accessed = server_time;
        }
        for TabTitle { key, tab_id, title } in titles {
            match self.tabs.get_mut(&key) {
                None => {
                    self.tabs.insert(
                        key,
                        TabEntry {
                            tab_id,
                            title: title.unwrap_or(Value::Null),
                            last_accessed: server_time,
                        },
                    );
                    changed = true;
                }
                Some(tab) => {
                    if let Some(title) = title {
                        changed |= tab.title != title;
                        tab.title = title;
                    }
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn client(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn titles_from_commands() {
        let save = client(
            json!({"event": "google_docs_save", "bundles": [{"commands": [
                {"ty": "mkch", "d": [[0, "Tab one"]]},
                {"ty": "mlti", "mts": [
                    {"ty": "ac", "d": ["t.x", [0, "Second"]]},
                    {"ty": "mlti", "mts": [{"ty": "ac", "d": ["t.deep", [0, "hidden"]]}]}
                ]},
                {"ty": "ucp", "d": ["t.x", [0, [0, "Renamed"]]]},
                {"ty": "ucp", "d": "garbage"},
                {"ty": "ac", "d": ["t.s", [0, null]]},
                {"ty": "ac", "d": ["t.c", "xyz"]},
                {"ty": "nm", "nmc": {"ty": "ac", "d": ["t.n", [0, "inside nm"]]}, "nmr": ["t.n"]}
            ]}]}),
        );
        let titles: Vec<_> = tab_titles(&save)
            .into_iter()
            .map(|t| (t.key, t.title))
            .collect();
        assert_eq!(
            titles,
            vec![
                ("t.0".into(), Some(json!("Tab one"))),
                ("t.x".into(), Some(json!("Second"))),
                ("t.x".into(), Some(json!("Renamed"))),
                ("t.s".into(), None),
                // Python indexes the string: "xyz"[1] == "y".
                ("t.c".into(), Some(json!("y"))),
            ]
        );
    }

    #[test]
    fn active_tab_from_field_or_url() {
        assert_eq!(
            active_tab(&client(json!({"tab_id": "t.1"}))).as_deref(),
            Some("t.1")
        );
        let url = client(json!({"url": "https://docs.google.com/document/d/x/edit?tab=t.2#h"}));
        assert_eq!(active_tab(&url).as_deref(), Some("t.2"));
        let object = client(json!({"object": {"url": "https://x/?tab=&tab=t.3"}}));
        assert_eq!(active_tab(&object).as_deref(), Some("t.3"));
        assert_eq!(active_tab(&client(json!({"url": "https://x/"}))), None);
    }

    #[test]
    fn record_follows_learning_observers_rules() {
        let t = |key: &str, title: Option<&str>| TabTitle {
            key: key.into(),
            tab_id: json!(key),
            title: title.map(|s| json!(s)),
        };
        let mut tabs = TabList::default();
        // Unknown active tab: nothing happens.
        assert!(!tabs.record(Some("t.0"), vec![], 1.0));
        assert!(tabs.record(None, vec![t("t.0", Some("One")), t("t.1", None)], 2.0));
        // Known tab in a command: title updated, time not.
        assert!(tabs.record(None, vec![t("t.1", Some("Two"))], 3.0));
        assert_eq!(tabs.tabs["t.1"].last_accessed, 2.0);
        assert_eq!(tabs.tabs["t.1"].title, json!("Two"));
        // Active known tab: time updated.
        assert!(tabs.record(Some("t.0"), vec![t("t.0", None)], 4.0));
        assert_eq!(tabs.tabs["t.0"].last_accessed, 4.0);
        assert_eq!(tabs.tabs["t.0"].title, json!("One"));
        assert_eq!(
            serde_json::to_value(&tabs).unwrap()["tabs"]["t.0"],
            json!({"tab_id": "t.0", "title": "One", "last_accessed": 4.0})
        );
    }
}
