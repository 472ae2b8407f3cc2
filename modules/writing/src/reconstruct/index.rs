//! Learning Observer's index rules, in one place.
//!
//! Google Docs commands address the document with 1-based indices counted in Unicode code
//! points (an emoji counts 1). Learning Observer applies them with Python string slicing, so an
//! index that is zero or negative counts from the end and an index past the end is clamped.
//! `slice_bound` turns a Python slice bound into a rope char index with exactly those rules.
//! Indices past the end of the document are first filled with [`PLACEHOLDER`] characters; they
//! stay in the stored text (Learning Observer's JSON keeps them) and are stripped from the text
//! teachers see.

/// Fills the gap when a command addresses text the extension never saw (it started logging on
/// a non-empty document). Learning Observer uses `'\x00'`.
pub const PLACEHOLDER: char = '\0';

/// Python's rule for a slice bound `i` on a sequence of `len` items: negative bounds count from
/// the end (and stop at 0), bounds past the end stop at `len`.
pub(crate) fn slice_bound(i: i64, len: usize) -> usize {
    if i < 0 {
        let from_end = i.unsigned_abs();
        usize::try_from(from_end).map_or(0, |back| len.saturating_sub(back))
    } else {
        usize::try_from(i).map_or(len, |i| i.min(len))
    }
}

/// The 1-based index just past the end of a document of `len` code points (`len + 1`).
pub(crate) fn next_index(len: usize) -> i64 {
    i64::try_from(len).map_or(i64::MAX, |l| l.saturating_add(1))
}

/// `len` as a Python int.
pub(crate) fn as_index(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_python_slicing() {
        // "hello"[0:k] for several k
        assert_eq!(slice_bound(0, 5), 0);
        assert_eq!(slice_bound(3, 5), 3);
        assert_eq!(slice_bound(9, 5), 5);
        assert_eq!(slice_bound(-1, 5), 4);
        assert_eq!(slice_bound(-5, 5), 0);
        assert_eq!(slice_bound(-6, 5), 0);
        assert_eq!(slice_bound(i64::MIN, 5), 0);
        assert_eq!(slice_bound(i64::MAX, 5), 5);
        assert_eq!(slice_bound(-1, 0), 0);
    }

    #[test]
    fn next_index_is_one_past_the_end() {
        assert_eq!(next_index(0), 1);
        assert_eq!(next_index(41), 42);
        assert_eq!(as_index(7), 7);
    }
}
