//! Seeded text and randomness, so simulated runs repeat exactly.

/// SplitMix64: small, fast, and good enough to vary simulated students.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "the",
    "student",
    "wrote",
    "about",
    "a",
    "river",
    "that",
    "ran",
    "through",
    "an",
    "old",
    "town",
    "where",
    "every",
    "summer",
    "children",
    "learned",
    "to",
    "swim",
    "and",
    "fish",
    "history",
    "shows",
    "how",
    "communities",
    "change",
    "when",
    "new",
    "ideas",
    "arrive",
    "evidence",
    "suggests",
    "author",
    "argues",
    "however",
    "because",
    "therefore",
    "climate",
    "energy",
    "science",
    "experiment",
    "result",
    "question",
    "answer",
    "my",
    "essay",
    "explains",
    "why",
    "reading",
    "matters",
    "in",
    "our",
    "school",
    "library",
    "is",
    "quiet",
    "place",
];

/// About `chars` characters of sentence-like text.
pub(crate) fn essay(rng: &mut Rng, chars: usize) -> String {
    let mut text = String::with_capacity(chars + 16);
    let mut start = true;
    while text.chars().count() < chars {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        if start {
            let mut c = word.chars();
            if let Some(first) = c.next() {
                text.extend(first.to_uppercase());
                text.push_str(c.as_str());
            }
            start = false;
        } else {
            text.push_str(word);
        }
        if rng.below(9) == 0 {
            text.push_str(". ");
            start = true;
        } else {
            text.push(' ');
        }
    }
    text.chars().take(chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_text() {
        let a = essay(&mut Rng::new(7), 300);
        let b = essay(&mut Rng::new(7), 300);
        assert_eq!(a, b);
        assert_eq!(a.chars().count(), 300);
        assert_ne!(a, essay(&mut Rng::new(8), 300));
    }
}
