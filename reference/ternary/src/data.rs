//! Train/validation split of a byte corpus, training batches, and the unigram baseline.
//!
//! The split is by position: the first `1 − f` of the bytes train, the last `f` validate (default
//! f = 10%). Training windows are drawn only from the training part, so no validation byte is
//! ever a training input or target; a positional split (rather than shuffled lines) also keeps
//! whole documents on one side.

use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::TernaryError;
use crate::tokenizer::{self, BYTE_VOCAB_SIZE};

/// The two parts of the corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusSplit {
    /// Byte tokens of the first `1 − f` of the corpus.
    pub train: Vec<usize>,
    /// Byte tokens of the last `f`, never trained on.
    pub validation: Vec<usize>,
}

/// How the split was made, for the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// One sentence on how the split was made.
    pub description: String,
    /// Length of the corpus in bytes.
    pub corpus_bytes: usize,
    /// Byte offset where validation starts.
    pub validation_start: usize,
    /// Bytes in the training part.
    pub train_tokens: usize,
    /// Bytes in the validation part.
    pub validation_tokens: usize,
}

impl CorpusSplit {
    /// Splits `corpus` at byte `floor((1 − validation_fraction) · len)`.
    pub fn new(
        corpus: &str,
        validation_fraction: f64,
        seq_len: usize,
    ) -> Result<Self, TernaryError> {
        if !(validation_fraction > 0.0 && validation_fraction < 1.0) {
            return Err(TernaryError::Corpus(format!(
                "validation fraction {validation_fraction} must lie strictly between 0 and 1"
            )));
        }
        let tokens = tokenizer::encode(corpus);
        let start = ((1.0 - validation_fraction) * tokens.len() as f64).floor() as usize;
        let (train, validation) = tokens.split_at(start);
        // A training window needs seq_len + 1 tokens; validation needs one prediction.
        if train.len() <= seq_len + 1 || validation.len() < 2 {
            return Err(TernaryError::Corpus(format!(
                "{} bytes split into {} training and {} validation bytes: too small for windows of {}",
                tokens.len(),
                train.len(),
                validation.len(),
                seq_len + 1
            )));
        }
        Ok(Self {
            train: train.to_vec(),
            validation: validation.to_vec(),
        })
    }

    /// How the split was made, for the results file.
    pub fn info(&self) -> SplitInfo {
        let total = self.train.len() + self.validation.len();
        SplitInfo {
            description: format!(
                "byte-level; the first {} bytes train, the last {} bytes ({:.1}%) validate and are never trained on",
                self.train.len(),
                self.validation.len(),
                100.0 * self.validation.len() as f64 / total as f64
            ),
            corpus_bytes: total,
            validation_start: self.train.len(),
            train_tokens: self.train.len(),
            validation_tokens: self.validation.len(),
        }
    }

    /// A batch of `batch` random training windows: `inputs[b] = x[i..i+T]`,
    /// `targets[b] = x[i+1..i+T+1]`, with `i + T + 1 ≤ train.len()`.
    pub fn training_batch(
        &self,
        batch: usize,
        seq_len: usize,
        rng: &mut impl Rng,
    ) -> Result<(Array2<usize>, Array2<usize>), TernaryError> {
        let Some(last_start) = self.train.len().checked_sub(seq_len + 1) else {
            return Err(TernaryError::Corpus(format!(
                "{} training tokens cannot hold a window of {}",
                self.train.len(),
                seq_len + 1
            )));
        };
        let mut inputs = Array2::zeros((batch, seq_len));
        let mut targets = Array2::zeros((batch, seq_len));
        for b in 0..batch {
            let start = rng.random_range(0..=last_start);
            for t in 0..seq_len {
                inputs[[b, t]] = self.train[start + t];
                targets[[b, t]] = self.train[start + t + 1];
            }
        }
        Ok((inputs, targets))
    }
}

/// Consecutive non-overlapping windows covering `tokens`: every token but the first is predicted
/// exactly once, from the context inside its window (the context restarts every `seq_len`).
/// Returns `(inputs, targets)` pairs; the last window may be shorter.
pub fn evaluation_windows(tokens: &[usize], seq_len: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
    let predicted = tokens.len().saturating_sub(1);
    (0..predicted)
        .step_by(seq_len.max(1))
        .map(|start| {
            let end = (start + seq_len).min(predicted);
            (
                tokens[start..end].to_vec(),
                tokens[start + 1..end + 1].to_vec(),
            )
        })
        .collect()
}

/// Perplexity of the unigram byte model fitted on `train` (add-one smoothing over the 256 bytes)
/// on the tokens `validation[1..]` — the same positions the model is scored on.
pub fn unigram_perplexity(train: &[usize], validation: &[usize]) -> f64 {
    let mut counts = [0usize; BYTE_VOCAB_SIZE];
    for &t in train {
        counts[t] += 1;
    }
    let total = (train.len() + BYTE_VOCAB_SIZE) as f64;
    let scored = &validation[1.min(validation.len())..];
    let nll: f64 = scored
        .iter()
        .map(|&t| -((counts[t] + 1) as f64 / total).ln())
        .sum();
    (nll / scored.len().max(1) as f64).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn validation_is_the_tail_and_never_in_a_training_batch() {
        // Training bytes are lowercase letters, validation bytes digits: a batch touching the
        // validation part would contain a digit.
        let corpus: String = "abcdefghij".repeat(18) + &"0123456789".repeat(2);
        let split = CorpusSplit::new(&corpus, 0.1, 8).unwrap();
        assert_eq!(split.train.len(), 180);
        assert_eq!(split.validation, tokenizer::encode(&"0123456789".repeat(2)));
        let mut rng = StdRng::seed_from_u64(0);
        for _ in 0..200 {
            let (inputs, targets) = split.training_batch(4, 8, &mut rng).unwrap();
            assert!(
                inputs
                    .iter()
                    .chain(targets.iter())
                    .all(|&t| (b'a'..=b'j').contains(&(t as u8)))
            );
            // Targets are the inputs shifted by one.
            for b in 0..4 {
                for t in 0..7 {
                    assert_eq!(targets[[b, t]], inputs[[b, t + 1]]);
                }
            }
        }
    }

    #[test]
    fn evaluation_windows_predict_every_token_once() {
        let tokens: Vec<usize> = (0..23).collect();
        let windows = evaluation_windows(&tokens, 5);
        let predicted: Vec<usize> = windows.iter().flat_map(|(_, t)| t.clone()).collect();
        assert_eq!(predicted, (1..23).collect::<Vec<_>>());
        for (inputs, targets) in &windows {
            assert_eq!(inputs.len(), targets.len());
            assert_eq!(inputs[0] + 1, targets[0]);
        }
    }

    #[test]
    fn unigram_perplexity_hand_computed() {
        // Train: 254 × 'a' + 'b' + 'c' … counts+1: a 255, b 2, c 2; total 256 + 256 = 512.
        let mut train = vec![usize::from(b'a'); 254];
        train.extend([usize::from(b'b'), usize::from(b'c')]);
        let validation = vec![usize::from(b'x'), usize::from(b'a'), usize::from(b'b')];
        let expected = (-0.5 * ((255.0f64 / 512.0).ln() + (2.0f64 / 512.0).ln())).exp();
        assert!((unigram_perplexity(&train, &validation) - expected).abs() < 1e-9);
    }

    #[test]
    fn tiny_corpus_is_an_error() {
        assert!(CorpusSplit::new("short", 0.1, 8).is_err());
        assert!(CorpusSplit::new(&"x".repeat(1000), 1.0, 8).is_err());
        let split = CorpusSplit::new(&"x".repeat(100), 0.1, 8).unwrap();
        assert!(
            split
                .training_batch(2, 90, &mut StdRng::seed_from_u64(0))
                .is_err()
        );
    }
}
