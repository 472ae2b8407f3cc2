//! Fuzzing (property-based) configuration parsing: the shipped `config.toml` damaged line by
//! line, random values for every known key, and arbitrary text.
//!
//! - `Config::parse` never panics: a config is accepted or refused with a message that names
//!   the line or the key;
//! - an accepted config is valid, survives printing and parsing again unchanged
//!   (`check-config` prints it so), and its `[auth]` settings build or are refused cleanly.
//!
//! `CLASSPULSE_FUZZ_CASES` sets the number of cases (default 256).

use classpulse_core::auth::Authenticator;
use classpulse_core::config::Config;
use proptest::prelude::*;
use std::path::Path;

fn cases() -> u32 {
    std::env::var("CLASSPULSE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml"))
        .expect("the shipped config.toml")
}

/// Whatever `text` is, parsing it answers; an accepted config holds up.
fn check(text: &str) {
    match Config::parse(text, Path::new("fuzz.toml")) {
        Ok(config) => {
            config.validate().expect("an accepted config is valid");
            let printed = config.to_toml();
            let again = Config::parse(&printed, Path::new("printed.toml"))
                .unwrap_or_else(|e| panic!("the printed config does not parse: {e}\n{printed}"));
            // Compared as printed: a module's `nan` is not equal to itself (modules check their
            // own tables; the binary's config tests cover that).
            assert_eq!(
                again.to_toml(),
                printed,
                "printing and parsing changed the config"
            );
            let _ = Authenticator::new(&config.auth, None);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("fuzz.toml") || message.contains("invalid config value"),
                "the error names neither the file nor the key: {message}"
            );
        }
    }
}

/// A TOML value of some type, plausible or not for any key.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(1023),
            Just(1024),
            Just(1001)
        ]
        .prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z0-9:./_ -]{0,20}".prop_map(|s| format!("{s:?}")),
        Just("\"127.0.0.1:0\"".to_owned()),
        Just("\"10.0.0.0/8\"".to_owned()),
        Just("[\"127.0.0.1\", \"::1/128\"]".to_owned()),
        Just("[\"token\"]".to_owned()),
        Just("[\"testcase\", \"guest\", \"hash_identify\"]".to_owned()),
        Just("\"redis\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("1.5".to_owned()),
        Just("nan".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
    ]
}

/// Every `section.key` of the shipped config (keys commented out included).
fn keys() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in shipped().lines() {
        let line = line.trim().trim_start_matches("# ");
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
        } else if let Some((k, _)) = line.split_once(" = ")
            && !k.contains(' ')
            && !section.is_empty()
        {
            out.push((section.clone(), k.to_owned()));
        }
    }
    out.push(("kvs".into(), "url".into()));
    out.push(("pubsub".into(), "url".into()));
    out
}

/// A damage to one line of a text.
#[derive(Debug, Clone)]
enum Damage {
    Delete,
    Duplicate,
    Replace(String),
    Truncate(usize),
    Insert(String),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        Just(Damage::Delete),
        Just(Damage::Duplicate),
        value().prop_map(Damage::Replace),
        any::<usize>().prop_map(Damage::Truncate),
        "(\\PC|[\\[\\]=\"#])*".prop_map(Damage::Insert),
    ]
}

fn damaged(text: &str, edits: &[(prop::sample::Index, Damage)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (at, edit) in edits {
        if lines.is_empty() {
            break;
        }
        let i = at.index(lines.len());
        match edit {
            Damage::Delete => {
                lines.remove(i);
            }
            Damage::Duplicate => lines.insert(i, lines[i].clone()),
            Damage::Replace(v) => {
                // Uncomment a commented key too, so optional keys are reached.
                let line = lines[i].trim_start_matches("# ").to_owned();
                if let Some((k, _)) = line.split_once(" = ") {
                    lines[i] = format!("{k} = {v}");
                }
            }
            Damage::Truncate(n) => {
                let line = &lines[i];
                let mut cut = n % (line.len() + 1);
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines[i] = line[..cut].to_owned();
            }
            Damage::Insert(s) => lines.insert(i, s.clone()),
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_shipped_config_damaged(edits in prop::collection::vec((any::<prop::sample::Index>(), damage()), 1..6)) {
        check(&damaged(&shipped(), &edits));
    }

    #[test]
    fn any_value_for_any_key(
        picks in prop::collection::vec((any::<prop::sample::Index>(), value()), 1..6)
    ) {
        let keys = keys();
        let mut by_section: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (at, v) in &picks {
            let (section, key) = &keys[at.index(keys.len())];
            by_section.entry(section.clone()).or_default().push(format!("{key} = {v}"));
        }
        let text: String = by_section
            .iter()
            .map(|(s, lines)| format!("[{s}]\n{}\n", lines.join("\n")))
            .collect();
        check(&text);
    }

    #[test]
    fn any_text(text in "(\\PC|[\\[\\]=\"#\n.])*") {
        check(&text);
    }
}

#[test]
fn the_keys_were_found() {
    let keys = keys();
    assert!(keys.len() > 30, "{keys:?}");
    assert!(keys.contains(&("ingest".into(), "max_events_per_second_per_ip".into())));
    check(&shipped());
}
