//! A document's text: a rope that knows its own length in code points.
//!
//! Every command asks for the length several times (bounds, padding, the size limit, the
//! cursor series). A [`Rope`] whose root is a single leaf — every document under about a
//! kilobyte, which is every document while a student starts typing — counts its code points
//! again on each `len_chars`, so the length is kept here, updated by the two edits there are.

use ropey::Rope;

/// Text in a [`Rope`], with its length in code points kept alongside.
///
/// ```
/// use classpulse_writing::reconstruct::text::Text;
/// let mut text = Text::from("hé");
/// text.insert(2, "llo");
/// text.remove(0..1);
/// assert_eq!((text.len_chars(), text.rope().to_string()), (4, "éllo".to_owned()));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Text {
    rope: Rope,
    chars: usize,
}

impl Text {
    /// The rope, to read.
    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    /// Length in code points.
    pub fn len_chars(&self) -> usize {
        self.chars
    }

    /// Inserts `s` at code point `at` (at most the length).
    pub fn insert(&mut self, at: usize, s: &str) {
        self.rope.insert(at, s);
        self.chars += s.chars().count();
    }

    /// Removes the code points in `range` (within the text).
    pub fn remove(&mut self, range: std::ops::Range<usize>) {
        let removed = range.len();
        // The rope first: should it panic, the length still matches the text.
        self.rope.remove(range);
        self.chars -= removed;
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        let rope = Rope::from_str(s);
        let chars = rope.len_chars();
        Text { rope, chars }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_length_is_the_ropes_through_edits_past_a_leaf() {
        let mut text = Text::from("añb");
        for i in 0..2_000 {
            text.insert(
                i % (text.len_chars() + 1),
                if i % 3 == 0 { "é" } else { "xy" },
            );
            if i % 7 == 0 {
                text.remove(1..3);
            }
            assert_eq!(text.len_chars(), text.rope().len_chars());
        }
        assert!(text.len_chars() > 1_000);
    }
}
