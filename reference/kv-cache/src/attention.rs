//! Attention of one query over a sequence's cached keys and values.

use ndarray::linalg::general_mat_vec_mul;
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};

use crate::cache::KvSegment;

/// For every head h: `output[h] = Σⱼ pⱼ vⱼ` with `p = softmax(query[h]·Kᵀ/√d)` over the
/// tokens of `segments`, in token order. `query` and `output` are (H, d); `segments` is
/// non-empty.
///
/// Stable softmax: `pⱼ = exp(sⱼ − max s) / Σ exp(s − max s)`, so the largest exponent is 0 and
/// nothing overflows however large the scores, and the denominator is ≥ 1.
pub(crate) fn attend_cached(
    query: ArrayView2<'_, f64>,
    segments: &[KvSegment<'_>],
    mut output: ArrayViewMut2<'_, f64>,
) {
    let scale = 1.0 / (query.ncols() as f64).sqrt();
    let cached_tokens: usize = segments.iter().map(|s| s.keys.len_of(Axis(1))).sum();
    let mut scores = vec![0.0; cached_tokens];
    for (head, (query, mut output)) in query.outer_iter().zip(output.outer_iter_mut()).enumerate() {
        // s = q·Kᵀ/√d, one contiguous run of keys at a time.
        let mut start = 0;
        for segment in segments {
            let keys = segment.keys.index_axis(Axis(0), head);
            let end = start + keys.nrows();
            let mut run = ArrayViewMut1::from(&mut scores[start..end]);
            general_mat_vec_mul(scale, &keys, &query, 0.0, &mut run);
            start = end;
        }

        let max_score = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut normaliser = 0.0;
        for score in &mut scores {
            *score = (*score - max_score).exp();
            normaliser += *score;
        }

        // output = Σⱼ pⱼ vⱼ = Vᵀ p, accumulated run by run, then normalised once.
        output.fill(0.0);
        let mut start = 0;
        for segment in segments {
            let values = segment.values.index_axis(Axis(0), head);
            let end = start + values.nrows();
            let weights = ArrayView1::from(&scores[start..end]);
            general_mat_vec_mul(1.0, &values.t(), &weights, 1.0, &mut output);
            start = end;
        }
        output /= normaliser;
    }
}
