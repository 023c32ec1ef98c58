//! Ground truth: causal attention for one whole sequence, recomputed from scratch.

use ndarray::{Array3, ArrayView3};

use crate::cache::check_shape;
use crate::error::KvCacheError;

/// Causal multi-head attention over a whole sequence, with no cache: for every position t and
/// head h, `out[t, h] = softmax_j≤t(q[t,h]·k[j,h]/√d) · v[j,h]`. `q`, `k`, `v` are (T, H, d).
///
/// Deliberately naive — explicit loops, every score recomputed for every t, O(T²·H·d) — so it
/// shares no code with the cache and can serve as the expected output of incremental decoding:
/// after appending token t, attending `q[t]` over the cache must give `out[t]`.
///
/// # Errors
/// `k` or `v` not of `q`'s shape, or d = 0.
pub fn full_causal_attention(
    q: ArrayView3<'_, f64>,
    k: ArrayView3<'_, f64>,
    v: ArrayView3<'_, f64>,
) -> Result<Array3<f64>, KvCacheError> {
    check_shape("k", k.shape(), q.shape())?;
    check_shape("v", v.shape(), q.shape())?;
    let (tokens, heads, head_dim) = q.dim();
    if head_dim == 0 {
        return Err(KvCacheError::ZeroDimension("head_dim"));
    }
    let scale = 1.0 / (head_dim as f64).sqrt();

    let mut out = Array3::zeros((tokens, heads, head_dim));
    let mut scores = vec![0.0; tokens];
    for t in 0..tokens {
        for h in 0..heads {
            for j in 0..=t {
                scores[j] = (0..head_dim)
                    .map(|c| q[[t, h, c]] * k[[j, h, c]])
                    .sum::<f64>()
                    * scale;
            }
            let max_score = scores[..=t]
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores[..=t].iter().map(|s| (s - max_score).exp()).collect();
            let total: f64 = weights.iter().sum();
            for c in 0..head_dim {
                out[[t, h, c]] = (0..=t).map(|j| weights[j] * v[[j, h, c]]).sum::<f64>() / total;
            }
        }
    }
    Ok(out)
}
