//! Python's character classes: `str.isspace()` (also regex `\s`) and regex `\w`.

/// Python's `str.isspace()` for one character (regex `\s` on `str` patterns is the same set):
/// Unicode white space plus the information separators U+001C..U+001F.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's regex `\w` on `str` patterns: alphanumerics and the underscore.
///
/// Python counts letters and numbers (`str.isalnum()`); Rust's alphanumeric class also admits
/// combining marks that are `Other_Alphabetic` (some vowel signs), so a hashtag in such a
/// script may run a little longer than in Learning Observer.
pub fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_space(' ') && is_space('\n') && is_space('\u{a0}') && is_space('\u{1f}'));
        assert!(!is_space('a') && !is_space('\0'));
        assert!(is_word('a') && is_word('_') && is_word('é') && is_word('7'));
        assert!(!is_word('-') && !is_word('#'));
    }
}
