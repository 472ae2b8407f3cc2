//! A short excerpt of a document around the cursor (Learning Observer's
//! `excerpt_active_text`, as its dashboard aggregator uses it).
//!
//! About 103 code points, two thirds of them before the cursor, widened by up to 10 to end on
//! white space, with `❙` at the cursor. Computed on the rope in time proportional to the
//! excerpt; placeholders are removed from the result.

use crate::pycompat::text::is_space;
use crate::reconstruct::{Document, PLACEHOLDER};

/// The cursor mark.
pub const CURSOR_MARK: char = '❙';

const DESIRED_LENGTH: i64 = 103;
/// `int(103 * 2 / 3)`.
const BEFORE: i64 = 68;
const MAX_OVERFLOW: i64 = 10;

/// The excerpt of `doc` around 1-based `cursor` (Learning Observer's `position`).
pub fn excerpt(doc: &Document, cursor: i64) -> String {
    let text = doc.text();
    let count = doc.len_chars() as i64;
    if count == 0 {
        // Learning Observer raises on an empty text; show just the cursor.
        return CURSOR_MARK.to_string();
    }
    let char_at = |i: i64| text.char(i as usize);
    let mut start = cursor.saturating_sub(BEFORE).max(0);
    let mut end = (count - 1).min(start.saturating_add(DESIRED_LENGTH));
    start = (end - DESIRED_LENGTH).max(0);
    while end < count && end - start < DESIRED_LENGTH + MAX_OVERFLOW && !is_space(char_at(end)) {
        end += 1;
    }
    while start > 0 && end - start < DESIRED_LENGTH + MAX_OVERFLOW && !is_space(char_at(start)) {
        start -= 1;
    }
    let at = cursor.saturating_sub(1).max(0);
    // Python slices: bounds clamp to the text, an empty slice when they cross.
    let slice = |from: i64, to: i64| -> String {
        let from = from.clamp(0, count) as usize;
        let to = to.clamp(0, count) as usize;
        if to <= from {
            return String::new();
        }
        text.slice(from..to)
            .chars()
            .filter(|&c| c != PLACEHOLDER)
            .collect()
    };
    let mut out = slice(start, at);
    out.push(CURSOR_MARK);
    out.push_str(&slice(at, end));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconstruct::{Command, Limits};

    fn doc(text: &str) -> Document {
        let mut d = Document::new();
        d.apply(
            &Command::Insert {
                ibi: 1,
                s: text.into(),
            },
            &Limits::default(),
        );
        d
    }

    /// Learning Observer's function, transcribed literally on a `Vec<char>`, for comparison.
    fn reference(text: &str, cursor: i64) -> String {
        let t: Vec<char> = text.chars().collect();
        let count = t.len() as i64;
        let mut start = 0.max(cursor - 68);
        let mut end = (count - 1).min(start + 103);
        start = 0.max(end - 103);
        while end < count && end - start < 113 && !is_space(t[end as usize]) {
            end += 1;
        }
        while start > 0 && end - start < 113 && !is_space(t[start as usize]) {
            start -= 1;
        }
        let c = (cursor - 1).max(0);
        let sl = |a: i64, b: i64| {
            let (a, b) = (a.clamp(0, count) as usize, b.clamp(0, count) as usize);
            if b <= a {
                String::new()
            } else {
                t[a..b].iter().collect()
            }
        };
        format!("{}❙{}", sl(start, c), sl(c, end))
    }

    #[test]
    fn short_text_is_whole() {
        let d = doc("Hello world");
        assert_eq!(excerpt(&d, 12), "Hello world❙");
        assert_eq!(excerpt(&d, 6), "Hello❙ world");
        assert_eq!(excerpt(&Document::new(), 1), "❙");
    }

    #[test]
    fn matches_the_reference_on_long_text() {
        let text: String = (0..60).map(|i| format!("word{i} émoji😀 ")).collect();
        let d = doc(&text);
        for cursor in [-3, 0, 1, 2, 50, 68, 69, 70, 200, 500, 700, 900, 2000] {
            assert_eq!(
                excerpt(&d, cursor),
                reference(&text, cursor),
                "cursor {cursor}"
            );
        }
        let e = excerpt(&d, 400);
        assert!(e.chars().count() <= 114, "{e}");
    }

    #[test]
    fn placeholders_are_dropped() {
        let mut d = Document::new();
        d.apply(
            &Command::Insert {
                ibi: 4,
                s: "abc".into(),
            },
            &Limits::default(),
        );
        assert_eq!(excerpt(&d, 7), "abc❙");
    }
}
