//! The fused one-pass algorithm on the CPU: each row is read once, carrying the online softmax
//! state (m, l) and a bounded top-k of logits; probabilities are computed for the k kept only.
//!
//! Selecting on logits is exact: softmax is strictly increasing in the logit, so the top-k
//! probabilities are the top-k logits — and ranking by logit keeps the true order even where
//! exp(x − m) underflows to the same f32 (logits ±1e4).
//!
//! A row of −inf only has no softmax (0/0). It is defined here as the limit of a row of equal
//! logits: uniform probabilities 1/vocab, indices 0..k (ties by lower index). The CUDA kernel
//! does the same.

use rayon::prelude::*;

use crate::error::{FuseError, check_logit, check_shape};
use crate::online_softmax::OnlineSoftmax;
use crate::output::TopK;
use crate::top_k::{Candidate, TopKBuffer};

/// Fused softmax + top-k of one row: `(indices, probabilities)`, best first, in one pass.
/// `row_index` only labels errors.
pub fn fused_softmax_topk_row(
    row_index: usize,
    logits: &[f32],
    k: usize,
) -> Result<(Vec<i32>, Vec<f32>), FuseError> {
    check_shape(logits, 1, logits.len(), k)?;
    let mut normaliser = OnlineSoftmax::new();
    let mut best = TopKBuffer::new(k);
    for (index, &value) in logits.iter().enumerate() {
        check_logit(row_index, index, value)?;
        normaliser.push(value);
        best.offer(Candidate { value, index });
    }
    let uniform = 1.0 / logits.len() as f32;
    Ok(best
        .best_first()
        .iter()
        .map(|kept| {
            let prob = if normaliser.is_all_neg_inf() {
                uniform
            } else {
                normaliser.probability(kept.value)
            };
            (index_as_i32(kept.index), prob)
        })
        .unzip())
}

/// Fused softmax + top-k of `logits` `[rows, vocab]` (row-major), rows in parallel.
pub fn fused_softmax_topk(
    logits: &[f32],
    rows: usize,
    vocab: usize,
    k: usize,
) -> Result<TopK, FuseError> {
    check_shape(logits, rows, vocab, k)?;
    let per_row: Vec<(Vec<i32>, Vec<f32>)> = logits
        .par_chunks_exact(vocab)
        .enumerate()
        .map(|(row, row_logits)| fused_softmax_topk_row(row, row_logits, k))
        .collect::<Result<_, _>>()?;
    let mut indices = Vec::with_capacity(rows * k);
    let mut probs = Vec::with_capacity(rows * k);
    for (row_indices, row_probs) in per_row {
        indices.extend(row_indices);
        probs.extend(row_probs);
    }
    Ok(TopK {
        rows,
        k,
        indices,
        probs,
    })
}

/// Column indices travel as `int` through the C interface; vocabularies are far below 2³¹.
pub(crate) fn index_as_i32(index: usize) -> i32 {
    i32::try_from(index).expect("a row longer than i32::MAX is rejected by memory long before")
}
