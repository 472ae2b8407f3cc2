//! Applying commands to a [`Document`] with Learning Observer's exact semantics.
//!
//! * `is {ibi, s}`: insert before 1-based `ibi`; an `ibi` past the end first appends
//!   placeholders up to it (a cursor move of its own); the cursor ends at `ibi + len(s)`.
//! * `ds {si, ei}`: delete the 1-based inclusive range; past the end it pads once for `si` and
//!   once more for `ei`, both measured from the length before padding (Learning Observer's
//!   double padding); the cursor ends at `si`.
//! * `rplc`/`rvrt {snapshot}`: each `is` entry replaces `sl` (default `len(s)`) code points at
//!   `ibi`, padding first if needed; the cursor does not move.
//! * `mlti` recurses; `nm` runs its command on a tab, created on first use.
//!
//! Bounds follow Python slicing (`index::slice_bound`). One protection Learning Observer lacks: a
//! command that would grow a document past [`Limits::max_chars`] (an index of 10⁹, say) is
//! skipped and reported instead of exhausting memory.

use super::command::{Command, ReplaceEntry};
use super::document::Document;
use super::index::{PLACEHOLDER, as_index, next_index, slice_bound};

/// Bounds that protect the process from hostile or broken commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest document, in code points (placeholders included), a command may produce.
    pub max_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_chars: 5_000_000,
        }
    }
}

/// What applying commands did besides editing the text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Commands with an unknown `ty` (ignored).
    pub unknown: u64,
    /// Commands skipped because the document would exceed [`Limits::max_chars`].
    pub oversized: u64,
}

impl ApplyReport {
    fn add(&mut self, other: ApplyReport) {
        self.unknown += other.unknown;
        self.oversized += other.oversized;
    }
}

impl Document {
    /// Applies one command (and the commands nested in it).
    pub fn apply(&mut self, command: &Command, limits: &Limits) -> ApplyReport {
        let mut report = ApplyReport::default();
        self.apply_into(command, limits, &mut report);
        self.unknown_commands += report.unknown;
        report
    }

    /// Applies commands in order.
    pub fn apply_all(&mut self, commands: &[Command], limits: &Limits) -> ApplyReport {
        let mut report = ApplyReport::default();
        for command in commands {
            report.add(self.apply(command, limits));
        }
        report
    }

    fn apply_into(&mut self, command: &Command, limits: &Limits, report: &mut ApplyReport) {
        match command {
            Command::Insert { ibi, s } => self.insert(*ibi, s, limits, report),
            Command::Delete { si, ei } => self.delete(*si, *ei, limits, report),
            Command::Multi(commands) => {
                for command in commands {
                    self.apply_into(command, limits, report);
                }
            }
            Command::Replace(entries) => {
                for entry in entries {
                    self.replace(entry, limits, report);
                }
            }
            Command::Named { tab: None, command } => self.apply_into(command, limits, report),
            Command::Named {
                tab: Some(tab),
                command,
            } => self.tab_mut(tab).apply_into(command, limits, report),
            Command::Ignored => {}
            Command::Unknown(ty) => {
                tracing::debug!(command = %ty, "unrecognized Google Docs command, ignored");
                report.unknown += 1;
            }
        }
    }

    /// Whether a document of `new_len` code points is allowed (shrinking always is).
    fn fits(&self, new_len: u128, limits: &Limits, report: &mut ApplyReport) -> bool {
        let len = self.text.len_chars() as u128;
        if new_len <= limits.max_chars as u128 || new_len <= len {
            return true;
        }
        tracing::warn!(
            length = len,
            would_be = %new_len,
            max = limits.max_chars,
            "Google Docs command skipped: the document would exceed the size limit"
        );
        report.oversized += 1;
        false
    }

    /// Learning Observer's `insert(doc, ty, ibi, s)` for an `ibi` within `1..=len+1` or below:
    /// text goes in at `ibi - 1` and the cursor moves to `ibi + len(s)`.
    fn insert_in_range(&mut self, ibi: i64, s: &str, chars: usize) {
        let a = slice_bound(ibi.saturating_sub(1), self.text.len_chars());
        self.splice(a, a, s);
        self.set_position(ibi.saturating_add(as_index(chars)));
    }

    /// Appends `count` placeholders at char index `at` as `insert(doc, ty, at + 1, '\0' * count)`.
    fn pad(&mut self, at: usize, count: u64) {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let padding: String = std::iter::repeat_n(PLACEHOLDER, count).collect();
        self.insert_in_range(as_index(at).saturating_add(1), &padding, count);
    }

    fn insert(&mut self, ibi: i64, s: &str, limits: &Limits, report: &mut ApplyReport) {
        let len = self.text.len_chars();
        let next = next_index(len);
        let pad = if ibi > next { ibi.abs_diff(next) } else { 0 };
        let chars = s.chars().count();
        if !self.fits(
            len as u128 + u128::from(pad) + chars as u128,
            limits,
            report,
        ) {
            return;
        }
        if pad > 0 {
            self.pad(len, pad);
        }
        self.insert_in_range(ibi, s, chars);
    }

    fn delete(&mut self, si: i64, ei: i64, limits: &Limits, report: &mut ApplyReport) {
        let last = self.text.len_chars();
        let last_index = as_index(last);
        let pad_si = if si > last_index {
            si.abs_diff(last_index)
        } else {
            0
        };
        let pad_ei = if ei > last_index {
            ei.abs_diff(last_index)
        } else {
            0
        };
        let padded = last as u128 + u128::from(pad_si) + u128::from(pad_ei);
        // Reversed bounds repeat text (Python's `doc[:a] + doc[b:]` with b < a): the result
        // can outgrow the padded document, so it is what must fit.
        let padded_len = usize::try_from(padded).unwrap_or(usize::MAX);
        let (a, b) = (
            slice_bound(si.saturating_sub(1), padded_len),
            slice_bound(ei, padded_len),
        );
        let result = if b >= a {
            padded - (b - a) as u128
        } else {
            padded + (a - b) as u128
        };
        if !self.fits(padded.max(result), limits, report) {
            return;
        }
        // Both paddings are measured from the length before any padding.
        if pad_si > 0 {
            self.pad(last, pad_si);
        }
        if pad_ei > 0 {
            self.pad(last, pad_ei);
        }
        let len = self.text.len_chars();
        let a = slice_bound(si.saturating_sub(1), len);
        let b = slice_bound(ei, len);
        self.splice(a, b, "");
        self.set_position(si);
    }

    fn replace(&mut self, entry: &ReplaceEntry, limits: &Limits, report: &mut ApplyReport) {
        let ReplaceEntry { ibi, s, sl } = entry;
        let ibi = *ibi;
        let chars = s.chars().count();
        let sl = sl.unwrap_or(as_index(chars));
        let len = self.text.len_chars();
        let next = next_index(len);
        let pad = if ibi > next { ibi.abs_diff(next) } else { 0 };
        // The length once padded, and the splice bounds in it.
        let padded = len as u128 + u128::from(pad);
        let padded_len = usize::try_from(padded).unwrap_or(usize::MAX);
        let a = slice_bound(ibi.saturating_sub(1), padded_len);
        let b = slice_bound(ibi.saturating_add(sl).saturating_sub(1), padded_len);
        let result = if b >= a {
            padded - (b - a) as u128 + chars as u128
        } else {
            padded + chars as u128 + (a - b) as u128
        };
        if !self.fits(padded.max(result), limits, report) {
            return;
        }
        if pad > 0 {
            self.pad(len, pad);
        }
        self.splice(a, b, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconstruct::edit_metadata::EditPoint;

    fn ins(ibi: i64, s: &str) -> Command {
        Command::Insert { ibi, s: s.into() }
    }
    fn del(si: i64, ei: i64) -> Command {
        Command::Delete { si, ei }
    }
    fn rplc(ibi: i64, s: &str, sl: Option<i64>) -> Command {
        Command::Replace(vec![ReplaceEntry {
            ibi,
            s: s.into(),
            sl,
        }])
    }
    fn run(commands: &[Command]) -> Document {
        let mut doc = Document::new();
        doc.apply_all(commands, &Limits::default());
        doc
    }
    fn series(doc: &Document) -> (Vec<i64>, Vec<i64>) {
        (
            doc.edit_metadata().cursors().collect(),
            doc.edit_metadata().lengths().collect(),
        )
    }

    #[test]
    fn insert_appends_and_moves_the_cursor() {
        let doc = run(&[ins(1, "Hi LO")]);
        assert_eq!(doc.raw_text(), "Hi LO");
        assert_eq!(doc.position(), 6);
        assert_eq!(series(&doc), (vec![6], vec![5]));
        let doc = run(&[ins(1, "ac"), ins(2, "b")]);
        assert_eq!(doc.raw_text(), "abc");
        assert_eq!(doc.position(), 3);
    }

    #[test]
    fn insert_past_the_end_pads_with_placeholders() {
        let doc = run(&[ins(4, "a")]);
        assert_eq!(doc.raw_text(), "\0\0\0a");
        assert_eq!(doc.visible_text(), "a");
        assert_eq!(doc.position(), 5);
        // The padding is a cursor move of its own.
        assert_eq!(series(&doc), (vec![4, 5], vec![3, 4]));
    }

    #[test]
    fn insert_at_zero_or_below_counts_from_the_end() {
        // Python: text[0:-1] + s + text[-1:]
        let doc = run(&[ins(1, "abc"), ins(0, "X")]);
        assert_eq!(doc.raw_text(), "abXc");
        assert_eq!(doc.position(), 1);
        let doc = run(&[ins(1, "abc"), ins(-10, "X")]);
        assert_eq!(doc.raw_text(), "Xabc");
    }

    #[test]
    fn delete_removes_an_inclusive_range() {
        let doc = run(&[
            ins(1, "Hi LO"),
            Command::Multi(vec![del(3, 5), ins(3, "Learning Observer")]),
        ]);
        assert_eq!(doc.raw_text(), "HiLearning Observer");
        assert_eq!(doc.position(), 20);
        assert_eq!(series(&doc), (vec![6, 3, 20], vec![5, 2, 19]));
    }

    #[test]
    fn delete_past_the_end_pads_twice() {
        // len 2; ds 5..6: pads 3 (si) and 4 (ei) placeholders, then deletes [4, 6).
        let doc = run(&[ins(1, "ab"), del(5, 6)]);
        assert_eq!(doc.len_chars(), 2 + 3 + 4 - 2);
        assert_eq!(doc.raw_text(), "ab\0\0\0\0\0");
        assert_eq!(doc.position(), 5);
        assert_eq!(series(&doc), (vec![3, 6, 7, 5], vec![2, 5, 9, 7]));
        // Only `ei` past the end: one padding.
        let doc = run(&[ins(1, "abc"), del(2, 5)]);
        assert_eq!(doc.raw_text(), "a");
        assert_eq!(series(&doc), (vec![4, 6, 2], vec![3, 5, 1]));
    }

    #[test]
    fn delete_with_reversed_bounds_repeats_text_like_python() {
        // text[0:3] + text[1:] for "abcd", si=4, ei=1
        let doc = run(&[ins(1, "abcd"), del(4, 1)]);
        assert_eq!(doc.raw_text(), "abcbcd");
        assert_eq!(doc.position(), 4);
    }

    #[test]
    fn multibyte_and_astral_characters_count_one() {
        let doc = run(&[ins(1, "é😀z"), ins(3, "ü"), del(2, 2)]);
        assert_eq!(doc.raw_text(), "éüz");
        assert_eq!(doc.position(), 2);
        assert_eq!(series(&doc), (vec![4, 4, 2], vec![3, 4, 3]));
        let doc = run(&[ins(1, "👩‍👩‍👧"), ins(6, "!")]);
        assert_eq!(doc.len_chars(), 6);
        assert_eq!(doc.raw_text(), "👩‍👩‍👧!");
    }

    #[test]
    fn nested_multi() {
        let doc = run(&[Command::Multi(vec![
            ins(1, "ab"),
            Command::Multi(vec![ins(3, "c"), Command::Multi(vec![del(1, 1)])]),
        ])]);
        assert_eq!(doc.raw_text(), "bc");
        assert_eq!(doc.position(), 1);
        assert_eq!(doc.edit_metadata().len(), 3);
    }

    #[test]
    fn replace_keeps_the_cursor() {
        let doc = run(&[ins(1, "hello"), rplc(1, "J", Some(1))]);
        assert_eq!(doc.raw_text(), "Jello");
        assert_eq!(doc.position(), 6);
        assert_eq!(doc.edit_metadata().len(), 1);
        // Default `sl` = len(s): overwrite.
        let doc = run(&[ins(1, "hello"), rplc(2, "EL", None)]);
        assert_eq!(doc.raw_text(), "hELlo");
        // `sl` 0 inserts.
        let doc = run(&[ins(1, "hello"), rplc(6, "!", Some(0))]);
        assert_eq!(doc.raw_text(), "hello!");
        // Past the end: padding (a cursor move), then the replacement.
        let doc = run(&[rplc(3, "xy", None)]);
        assert_eq!(doc.raw_text(), "\0\0xy");
        assert_eq!(doc.position(), 3);
        assert_eq!(series(&doc), (vec![3], vec![2]));
        // A negative `sl` repeats text, as Python's slices do.
        let doc = run(&[ins(1, "abcd"), rplc(3, "X", Some(-1))]);
        assert_eq!(doc.raw_text(), "abXbcd");
    }

    #[test]
    fn tabs_are_created_on_first_use() {
        let nm = |tab: Option<&str>, command: Command| Command::Named {
            tab: tab.map(str::to_owned),
            command: Box::new(command),
        };
        let doc = run(&[
            ins(1, "main"),
            nm(Some("t.1"), ins(1, "first tab")),
            nm(Some("t.2"), Command::Ignored),
            nm(None, ins(5, "!")),
            nm(Some("t.1"), del(1, 6)),
        ]);
        assert_eq!(doc.raw_text(), "main!");
        let tabs: Vec<_> = doc
            .tabs()
            .map(|(id, d)| (id.to_owned(), d.raw_text()))
            .collect();
        assert_eq!(
            tabs,
            vec![("t.1".into(), "tab".into()), ("t.2".into(), String::new())]
        );
        assert_eq!(doc.tab("t.1").unwrap().position(), 1);
        assert_eq!(doc.tab("t.2").unwrap().edit_metadata().len(), 0);
    }

    #[test]
    fn unknown_commands_are_counted_not_fatal() {
        let mut doc = Document::new();
        let report = doc.apply_all(
            &[
                ins(1, "a"),
                Command::Unknown("zz".into()),
                Command::Ignored,
                ins(2, "b"),
            ],
            &Limits::default(),
        );
        assert_eq!(report.unknown, 1);
        assert_eq!(doc.unknown_commands(), 1);
        assert_eq!(doc.raw_text(), "ab");
    }

    #[test]
    fn oversized_commands_are_skipped() {
        let limits = Limits { max_chars: 10 };
        let mut doc = Document::new();
        let report = doc.apply_all(
            &[
                ins(1, "abc"),
                ins(1_000_000_000, "x"),
                del(5, i64::MAX),
                ins(4, "defg"),
            ],
            &limits,
        );
        assert_eq!(report.oversized, 2);
        assert_eq!(doc.raw_text(), "abcdefg");
        assert_eq!(
            doc.edit_metadata().last(),
            Some(EditPoint {
                cursor: 8,
                length: 7
            })
        );
        let report = doc.apply(&rplc(1, "0123456789", Some(0)), &limits);
        assert_eq!(report.oversized, 1);
        // Shrinking is always allowed.
        doc.apply(&del(1, 7), &limits);
        assert!(doc.is_empty());
    }

    #[test]
    fn a_reversed_delete_that_would_repeat_past_the_limit_is_skipped() {
        // Found by the suite's fuzzing: padded to 9 chars the document fits, but reversed
        // bounds then repeat 8 of them (17 > 10).
        let limits = Limits { max_chars: 10 };
        let mut doc = Document::new();
        let report = doc.apply(&del(9, 0), &limits);
        assert_eq!(report.oversized, 1);
        assert!(doc.is_empty());
        // Within the limit the repetition still happens, as in Python.
        let report = doc.apply_all(&[ins(1, "abcd"), del(4, 1)], &limits);
        assert_eq!(report.oversized, 0);
        assert_eq!(doc.raw_text(), "abcbcd");
    }
}
