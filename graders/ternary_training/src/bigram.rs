//! The "samples are not random" statistic: cross-entropy under the corpus's byte-bigram model.
//!
//! The corpus gives a conditional bigram model over bytes with add-one smoothing,
//!
//! ```text
//! P(b | a) = (C(a, b) + 1) / (C(a) + 256),
//! ```
//!
//! and a text `x` of `n` bytes scores `H(x) = −1/(n−1) · Σ_i log₂ P(x_{i+1} | x_i)` bits per
//! bigram. Three numbers are compared:
//!
//! - `H(corpus)`: the corpus scored by its own model — where text like the corpus lands;
//! - `H(uniform)`: the expected score of text whose bytes are drawn uniformly from the corpus's
//!   own alphabet `A`, `−1/|A|² · Σ_{a,b ∈ A} log₂ P(b | a)` (computed exactly, not sampled);
//! - `H(samples)`: the samples' completions (bigrams inside each completion).
//!
//! The samples pass when they are closer to the corpus than to uniform text on this axis:
//! `H(samples) < (H(corpus) + H(uniform)) / 2`. Random characters, even from the right
//! alphabet, land near `H(uniform)`; text that learned which byte follows which lands near
//! `H(corpus)`.

/// Byte-bigram counts of a corpus.
#[derive(Debug, Clone)]
pub struct BigramModel {
    /// `counts[256·a + b]` = C(a, b).
    counts: Vec<u64>,
    /// C(a) = Σ_b C(a, b).
    row_totals: Vec<u64>,
    /// Bytes that occur in the corpus, ascending.
    alphabet: Vec<u8>,
}

impl BigramModel {
    /// Counts every adjacent byte pair of `corpus`, and the bytes it uses.
    pub fn fit(corpus: &[u8]) -> Self {
        let mut counts = vec![0u64; 256 * 256];
        let mut row_totals = vec![0u64; 256];
        for pair in corpus.windows(2) {
            counts[256 * usize::from(pair[0]) + usize::from(pair[1])] += 1;
            row_totals[usize::from(pair[0])] += 1;
        }
        let mut seen = [false; 256];
        corpus.iter().for_each(|&b| seen[usize::from(b)] = true);
        let alphabet = (0..=255u8).filter(|&b| seen[usize::from(b)]).collect();
        Self {
            counts,
            row_totals,
            alphabet,
        }
    }

    /// `log₂ P(b | a)`.
    pub fn log2_prob(&self, a: u8, b: u8) -> f64 {
        let count = self.counts[256 * usize::from(a) + usize::from(b)];
        let total = self.row_totals[usize::from(a)];
        ((count + 1) as f64 / (total + 256) as f64).log2()
    }

    /// Mean bits per bigram over the bigrams inside each text, with the number of bigrams;
    /// `None` when there is no bigram at all.
    pub fn cross_entropy<'t>(
        &self,
        texts: impl IntoIterator<Item = &'t [u8]>,
    ) -> Option<(f64, usize)> {
        let (bits, n) = texts
            .into_iter()
            .flat_map(|t| t.windows(2))
            .fold((0.0, 0usize), |(bits, n), pair| {
                (bits - self.log2_prob(pair[0], pair[1]), n + 1)
            });
        (n > 0).then(|| (bits / n as f64, n))
    }

    /// The expected bits per bigram of text drawn uniformly from the corpus's alphabet.
    pub fn uniform_cross_entropy(&self) -> f64 {
        let k = self.alphabet.len().max(1) as f64;
        let total: f64 = self
            .alphabet
            .iter()
            .flat_map(|&a| self.alphabet.iter().map(move |&b| (a, b)))
            .map(|(a, b)| -self.log2_prob(a, b))
            .sum();
        total / (k * k)
    }

    /// Size of the corpus's alphabet.
    pub fn alphabet_len(&self) -> usize {
        self.alphabet.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_probabilities_and_entropies() {
        // "abab": C(a,b) = 2, C(b,a) = 1; C(a) = 2, C(b) = 1.
        let model = BigramModel::fit(b"abab");
        assert!((model.log2_prob(b'a', b'b') - (3.0f64 / 258.0).log2()).abs() < 1e-12);
        assert!((model.log2_prob(b'b', b'a') - (2.0f64 / 257.0).log2()).abs() < 1e-12);
        assert!((model.log2_prob(b'a', b'a') - (1.0f64 / 258.0).log2()).abs() < 1e-12);
        // Its own three bigrams ab, ba, ab.
        let (h, n) = model.cross_entropy([&b"abab"[..]]).unwrap();
        let expected = -(2.0 * (3.0f64 / 258.0).log2() + (2.0f64 / 257.0).log2()) / 3.0;
        assert_eq!(n, 3);
        assert!((h - expected).abs() < 1e-12);
        // Uniform over {a, b}: the mean of the four −log₂ P.
        let uniform = -((3.0f64 / 258.0).log2()
            + (1.0f64 / 258.0).log2()
            + (2.0f64 / 257.0).log2()
            + (1.0f64 / 257.0).log2())
            / 4.0;
        assert!((model.uniform_cross_entropy() - uniform).abs() < 1e-12);
        assert_eq!(model.alphabet_len(), 2);
    }

    #[test]
    fn no_bigram_no_entropy_and_bigrams_do_not_cross_texts() {
        let model = BigramModel::fit(b"hello world");
        assert_eq!(model.cross_entropy([&b"x"[..], b""]), None);
        let (_, n) = model.cross_entropy([&b"ab"[..], b"cd"]).unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn text_like_the_corpus_beats_the_midpoint_and_shuffled_letters_do_not() {
        let corpus = "the cat sat on the mat and the dog sat on the log. ".repeat(40);
        let model = BigramModel::fit(corpus.as_bytes());
        let (h_corpus, _) = model.cross_entropy([corpus.as_bytes()]).unwrap();
        let midpoint = (h_corpus + model.uniform_cross_entropy()) / 2.0;
        let (h_like, _) = model
            .cross_entropy([&b"the dog sat on the mat. the cat"[..]])
            .unwrap();
        assert!(h_like < midpoint, "{h_like} vs {midpoint}");
        // The corpus's letters in an order that ignores which follows which.
        let (h_noise, _) = model
            .cross_entropy([&b"tgmcs.ahdoe lnt ogsa ctmd.holget"[..]])
            .unwrap();
        assert!(h_noise > midpoint, "{h_noise} vs {midpoint}");
    }
}
