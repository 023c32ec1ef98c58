//! The textbook two-step version, independent of the streaming code: materialise the whole
//! softmax row (max, then sum, then every probability), then sort all columns.
//! O(vocab) memory per row and a full sort — the baseline the fused algorithm is checked against.

use crate::error::{FuseError, check_logit, check_shape};
use crate::output::TopK;
use crate::streaming::index_as_i32;

/// Naive softmax + top-k of `logits` `[rows, vocab]`, same conventions as the fused version.
///
/// The sort key is the logit (descending, ties by lower index): it orders the columns exactly as
/// the true probabilities do, whereas the rounded probabilities tie where exp underflows.
pub fn naive_softmax_topk(
    logits: &[f32],
    rows: usize,
    vocab: usize,
    k: usize,
) -> Result<TopK, FuseError> {
    check_shape(logits, rows, vocab, k)?;
    let mut indices = Vec::with_capacity(rows * k);
    let mut probs = Vec::with_capacity(rows * k);
    for (row, x) in logits.chunks_exact(vocab).enumerate() {
        for (column, &value) in x.iter().enumerate() {
            check_logit(row, column, value)?;
        }
        let softmax = softmax_row(x);
        let mut order: Vec<usize> = (0..vocab).collect();
        // partial_cmp, not total_cmp: −0.0 and +0.0 are equal logits and tie by index.
        order.sort_by(|&a, &b| {
            x[b].partial_cmp(&x[a])
                .expect("NaN was rejected above")
                .then(a.cmp(&b))
        });
        for &column in &order[..k] {
            indices.push(index_as_i32(column));
            probs.push(softmax[column] as f32);
        }
    }
    Ok(TopK {
        rows,
        k,
        indices,
        probs,
    })
}

/// The full softmax of one row in f64, with the all −inf row defined as uniform.
fn softmax_row(x: &[f32]) -> Vec<f64> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return vec![1.0 / x.len() as f64; x.len()];
    }
    let exps: Vec<f64> = x.iter().map(|&v| f64::from(v - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}
