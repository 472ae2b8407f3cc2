//! Property test: the rope engine agrees with a naive model of Learning Observer's code.
//!
//! The model is written the way `reconstruct_doc.py` is: the text is a `Vec<char>` rebuilt by
//! Python-style slicing on every command, padding recurses through `insert`. Random command
//! sequences (indices around and past both ends, multi-byte and astral characters, nested
//! `mlti`, tabs) must give the same text, cursor, edit metadata and tabs.

use super::{Command, Document, Limits, PLACEHOLDER, ReplaceEntry};
use proptest::prelude::*;

#[derive(Clone, Debug, Default)]
struct Model {
    text: Vec<char>,
    position: i64,
    cursor: Vec<i64>,
    length: Vec<i64>,
    tabs: Vec<(String, Model)>,
}

/// Python's `seq[start:end]`.
fn py_slice(seq: &[char], start: i64, end: Option<i64>) -> Vec<char> {
    let len = seq.len() as i64;
    let norm = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let s = norm(start);
    let e = end.map_or(len, norm);
    if e <= s {
        Vec::new()
    } else {
        seq[s as usize..e as usize].to_vec()
    }
}

impl Model {
    fn set_position(&mut self, p: i64) {
        self.length.push(self.text.len() as i64);
        self.cursor.push(p);
        self.position = p;
    }

    fn insert(&mut self, ibi: i64, s: &[char]) {
        let next = self.text.len() as i64 + 1;
        if ibi > next {
            self.insert(next, &vec![PLACEHOLDER; (ibi - next) as usize]);
        }
        let mut text = py_slice(&self.text, 0, Some(ibi - 1));
        text.extend_from_slice(s);
        text.extend(py_slice(&self.text, ibi - 1, None));
        self.text = text;
        self.set_position(ibi + s.len() as i64);
    }

    fn delete(&mut self, si: i64, ei: i64) {
        let last = self.text.len() as i64;
        if si > last {
            self.insert(last + 1, &vec![PLACEHOLDER; (si - last) as usize]);
        }
        if ei > last {
            self.insert(last + 1, &vec![PLACEHOLDER; (ei - last) as usize]);
        }
        let mut text = py_slice(&self.text, 0, Some(si - 1));
        text.extend(py_slice(&self.text, ei, None));
        self.text = text;
        self.set_position(si);
    }

    fn replace(&mut self, entries: &[ReplaceEntry]) {
        for e in entries {
            let next = self.text.len() as i64 + 1;
            let s: Vec<char> = e.s.chars().collect();
            let sl = e.sl.unwrap_or(s.len() as i64);
            if e.ibi > next {
                self.insert(next, &vec![PLACEHOLDER; (e.ibi - next) as usize]);
            }
            let mut text = py_slice(&self.text, 0, Some(e.ibi - 1));
            text.extend_from_slice(&s);
            text.extend(py_slice(&self.text, e.ibi + sl - 1, None));
            self.text = text;
        }
    }

    fn apply(&mut self, command: &Command) {
        match command {
            Command::Insert { ibi, s } => self.insert(*ibi, &s.chars().collect::<Vec<_>>()),
            Command::Delete { si, ei } => self.delete(*si, *ei),
            Command::Multi(cs) => cs.iter().for_each(|c| self.apply(c)),
            Command::Replace(entries) => self.replace(entries),
            Command::Named { tab: None, command } => self.apply(command),
            Command::Named {
                tab: Some(t),
                command,
            } => {
                if !self.tabs.iter().any(|(id, _)| id == t) {
                    self.tabs.push((t.clone(), Model::default()));
                }
                let tab = self.tabs.iter_mut().find(|(id, _)| id == t).unwrap();
                tab.1.apply(command);
            }
            Command::Ignored | Command::Unknown(_) => {}
        }
    }

    fn assert_same(&self, doc: &Document) {
        assert_eq!(doc.raw_text(), self.text.iter().collect::<String>());
        assert_eq!(doc.len_chars(), self.text.len());
        assert_eq!(doc.position(), self.position);
        assert_eq!(
            doc.edit_metadata().cursors().collect::<Vec<_>>(),
            self.cursor
        );
        assert_eq!(
            doc.edit_metadata().lengths().collect::<Vec<_>>(),
            self.length
        );
        assert_eq!(doc.tabs().len(), self.tabs.len());
        for ((id, tab), (mid, model)) in doc.tabs().zip(&self.tabs) {
            assert_eq!(id, mid);
            model.assert_same(tab);
        }
    }
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['a', 'b', ' ', 'é', '😀', '\n', 'ß']),
        0..5,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn index() -> impl Strategy<Value = i64> {
    -4i64..16
}

fn leaf() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => (index(), text()).prop_map(|(ibi, s)| Command::Insert { ibi, s }),
        3 => (index(), index()).prop_map(|(si, ei)| Command::Delete { si, ei }),
        2 => prop::collection::vec(
            (index(), text(), prop::option::of(-2i64..6))
                .prop_map(|(ibi, s, sl)| ReplaceEntry { ibi, s, sl }),
            0..3
        )
        .prop_map(Command::Replace),
        1 => Just(Command::Ignored),
        1 => Just(Command::Unknown("zz".into())),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Command::Multi),
            (
                prop::option::of(prop::sample::select(vec!["t.0", "t.1", "t.x"])),
                inner
            )
                .prop_map(|(tab, c)| Command::Named {
                    tab: tab.map(str::to_owned),
                    command: Box::new(c),
                }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rope_engine_matches_naive_model(commands in prop::collection::vec(command(), 0..24)) {
        let mut doc = Document::new();
        let mut model = Model::default();
        for c in &commands {
            doc.apply(c, &Limits::default());
            model.apply(c);
            model.assert_same(&doc);
        }
        // And the state survives its JSON form.
        let json = serde_json::to_string(&doc).unwrap();
        let back: Document = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, doc);
    }
}
