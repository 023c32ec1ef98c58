//! The model interface shared by beam search and tree verification.

use ndarray::{Array1, Array2, ArrayView2};

/// Why a model could not produce logits. Every variant is a caller mistake that the model
/// reports instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// No tokens were given.
    #[error("empty token sequence: there is no position to predict from")]
    EmptySequence,
    /// A token id is not below `vocab_size`.
    #[error("token {token} at position {position} is outside the vocabulary of size {vocab_size}")]
    TokenOutOfRange {
        /// The offending token id.
        token: u32,
        /// Its index in the sequence.
        position: usize,
        /// The model's vocabulary size.
        vocab_size: usize,
    },
    /// The mask is not `(len, len)` for a sequence of `len` tokens.
    #[error("attention mask has shape {rows}x{cols}, expected {len}x{len}")]
    MaskShape {
        /// Rows of the mask given.
        rows: usize,
        /// Columns of the mask given.
        cols: usize,
        /// Length of the token sequence.
        len: usize,
    },
    /// A mask row is all `false`, so that position attends to nothing.
    #[error("attention mask row {row} allows no position: a softmax over nothing is undefined")]
    EmptyMaskRow {
        /// The all-`false` mask row.
        row: usize,
    },
}

/// A language model as the searches see it.
///
/// `logits(tokens, mask)` is the one primitive: `mask[[i, j]] == true` means position `i` may
/// attend to position `j`; row `i` of the result are the logits for the token that follows
/// position `i`. The causal conveniences are defined through it, so an implementor writes one
/// method; models with a cheaper batched path may override the batch method.
pub trait LanguageModel {
    /// Number of token ids, i.e. the width of every logits row.
    fn vocab_size(&self) -> usize;

    /// Logits of shape `(tokens.len(), vocab_size)` under an arbitrary `(len, len)` mask.
    fn logits(&self, tokens: &[u32], mask: ArrayView2<'_, bool>)
    -> Result<Array2<f64>, ModelError>;

    /// Logits for the token after `tokens`: the last row of a causal forward.
    fn next_token_logits(&self, tokens: &[u32]) -> Result<Array1<f64>, ModelError> {
        let last = tokens
            .len()
            .checked_sub(1)
            .ok_or(ModelError::EmptySequence)?;
        let logits = self.logits(tokens, causal_mask(tokens.len()).view())?;
        Ok(logits.row(last).to_owned())
    }

    /// [`Self::next_token_logits`] for each sequence (lengths may differ): shape `(batch, vocab)`.
    fn next_token_logits_batch(&self, sequences: &[&[u32]]) -> Result<Array2<f64>, ModelError> {
        let mut out = Array2::zeros((sequences.len(), self.vocab_size()));
        for (mut row, sequence) in out.rows_mut().into_iter().zip(sequences) {
            row.assign(&self.next_token_logits(sequence)?);
        }
        Ok(out)
    }
}

/// The causal mask `M[i, j] = (j <= i)` of shape `(len, len)`.
pub fn causal_mask(len: usize) -> Array2<bool> {
    Array2::from_shape_fn((len, len), |(i, j)| j <= i)
}
