//! The online-softmax recurrence: softmax(S)·V over key tiles seen one at a time.
//!
//! For one query row, with running max m, running sum l and unnormalised output O
//! (initially m = −∞, l = 0, O = 0), each key tile with scores s_j and values v_j does
//!
//! ```text
//! m_new = max(m, max_j s_j)
//! c     = exp(m − m_new)                  correction, in (0, 1]
//! p_j   = exp(s_j − m_new)                ≤ 1: no overflow
//! l     = c·l + Σ_j p_j
//! O     = c·O + Σ_j p_j v_j
//! m     = m_new
//! ```
//!
//! and at the end softmax(S)·V = O / l and the log-sum-exp is L = m + ln l.
//!
//! Why the correction is exp(m_old − m_new) and not exp(m_new − m_old): l and O hold sums of
//! exp(s − m_old). Re-expressing them against the new maximum multiplies each term by
//! exp(s − m_new) / exp(s − m_old) = exp(m_old − m_new). Since m_new ≥ m_old that factor is ≤ 1,
//! so old terms shrink; the inverted factor would be ≥ 1, inflate the old terms, and overflow
//! when the maxima differ by more than ~709 (f64) or ~88 (f32).

use ndarray::{ArrayViewMut1, ArrayViewMut2};

use crate::simd::simd_kernel;
use crate::{Float, rowwise};

/// Running max m and sum l for each row of one query tile.
pub struct OnlineSoftmax<F> {
    max: Vec<F>,
    sum: Vec<F>,
}

impl<F: Float> OnlineSoftmax<F> {
    /// State for query tiles of up to `capacity` rows.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            max: Vec::with_capacity(capacity),
            sum: Vec::with_capacity(capacity),
        }
    }

    /// Starts a query tile of `rows` rows: m = −∞, l = 0 (the caller zeroes O).
    pub fn reset(&mut self, rows: usize) {
        self.max.clear();
        self.max.resize(rows, F::neg_infinity());
        self.sum.clear();
        self.sum.resize(rows, F::zero());
    }

    /// Absorbs one key tile: turns `scores` (rows × keys) into p_j = exp(s_j − m_new) in place
    /// and rescales the rows of `output` by their correction. The caller then adds P·V_tile.
    ///
    /// The fully-masked hazard: if every key a row has seen so far is masked — its first
    /// key tile lies wholly after it under the causal mask — then m_new = max(−∞, −∞) = −∞,
    /// and both exp(s_j − m_new) = exp(−∞ + ∞) and exp(m_old − m_new) are exp(NaN) = NaN. The
    /// NaN enters l and O and survives every later tile. Such a row has nothing to add yet, so
    /// it keeps m = −∞, l = 0, O = 0 and gets p = 0. (With ascending key tiles of equal size, as
    /// in [`crate::FlashAttention::forward`], key 0 is always visible and this never triggers;
    /// it does for other schedules, e.g. key tiles visited from the diagonal backwards.)
    pub fn absorb(&mut self, scores: ArrayViewMut2<F>, output: ArrayViewMut2<F>) {
        absorb_rows(scores, output, &mut self.max, &mut self.sum);
    }

    /// Ends the query tile: O ← O / l and writes L = m + ln l.
    pub fn finish(&self, mut output: ArrayViewMut2<F>, mut lse: ArrayViewMut1<F>) {
        for (((mut o, l), &max), &sum) in output
            .rows_mut()
            .into_iter()
            .zip(&mut lse)
            .zip(&self.max)
            .zip(&self.sum)
        {
            o /= sum;
            *l = max + sum.ln();
        }
    }
}

simd_kernel! {
    /// The body of [`OnlineSoftmax::absorb`], one row at a time.
    fn absorb_rows<F: Float>(
        scores: ArrayViewMut2<F>,
        output: ArrayViewMut2<F>,
        max: &mut [F],
        sum: &mut [F],
    ) {
        let (mut scores, mut output) = (scores, output);
        let rows = scores.rows_mut().into_iter().zip(output.rows_mut());
        for (((mut p, mut o), max), sum) in rows.zip(max).zip(sum) {
            let p = p.as_slice_mut().expect("score scratch rows are contiguous");
            let max_new = max.max(rowwise::row_max(p));
            if max_new == F::neg_infinity() {
                p.fill(F::zero());
                continue;
            }
            // Exactly 1 when the maximum did not move, the common case after the first tiles.
            let correction = if max_new == *max {
                F::one()
            } else {
                (*max - max_new).exp_vectorizable()
            };
            *sum = correction * *sum + rowwise::exp_shifted_sum(p, max_new);
            if correction != F::one() {
                rowwise::scale(o.as_slice_mut().expect("output rows are contiguous"), correction);
            }
            *max = max_new;
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2, array, s};

    use super::*;

    /// Runs the recurrence over `scores` split after column `split`, with V = identity, so the
    /// output row is the softmax itself.
    fn softmax_in_two_tiles(scores: &Array2<f64>, split: usize) -> (Array2<f64>, Array1<f64>) {
        let (rows, keys) = scores.dim();
        let values = Array2::<f64>::eye(keys);
        let mut output = Array2::zeros((rows, keys));
        let mut lse = Array1::zeros(rows);
        let mut state = OnlineSoftmax::with_capacity(rows);
        state.reset(rows);
        for range in [0..split, split..keys] {
            let mut p = scores.slice(s![.., range.clone()]).to_owned();
            state.absorb(p.view_mut(), output.view_mut());
            ndarray::linalg::general_mat_mul(
                1.0,
                &p,
                &values.slice(s![range, ..]),
                1.0,
                &mut output,
            );
        }
        state.finish(output.view_mut(), lse.view_mut());
        (output, lse)
    }

    fn softmax_and_lse(row: &[f64]) -> (Vec<f64>, f64) {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let l: f64 = row.iter().map(|s| (s - m).exp()).sum();
        (row.iter().map(|s| (s - m).exp() / l).collect(), m + l.ln())
    }

    #[test]
    fn two_tiles_give_the_softmax_even_when_the_max_moves_by_1e3() {
        let scores = array![
            [1.0, 2.0, 3.0, -1.0],
            [-1000.0, 5.0, 1000.0, 0.0],
            [4.0, 3.0, 2.0, 1.0]
        ];
        let (output, lse) = softmax_in_two_tiles(&scores, 2);
        for (r, row) in scores.rows().into_iter().enumerate() {
            let (expected, expected_lse) = softmax_and_lse(row.as_slice().unwrap());
            for (got, want) in output.row(r).iter().zip(&expected) {
                approx::assert_abs_diff_eq!(got, want, epsilon = 1e-15);
            }
            approx::assert_relative_eq!(lse[r], expected_lse, max_relative = 1e-15);
        }
    }

    #[test]
    fn fully_masked_first_tile_stays_finite() {
        let ninf = f64::NEG_INFINITY;
        let scores = array![[ninf, ninf, 0.5, -0.5], [ninf, ninf, ninf, 2.0]];
        let (output, lse) = softmax_in_two_tiles(&scores, 2);
        assert!(
            output.iter().chain(&lse).all(|x| x.is_finite()),
            "{output} {lse}"
        );
        let (expected, expected_lse) = softmax_and_lse(&[0.5, -0.5]);
        approx::assert_abs_diff_eq!(
            output.slice(s![0, 2..]),
            Array1::from(expected),
            epsilon = 1e-15
        );
        approx::assert_relative_eq!(lse[0], expected_lse, max_relative = 1e-15);
        approx::assert_abs_diff_eq!(output.row(1), array![0.0, 0.0, 0.0, 1.0], epsilon = 1e-15);
        approx::assert_relative_eq!(lse[1], 2.0, max_relative = 1e-15);
    }

    #[test]
    fn the_unguarded_update_on_a_fully_masked_tile_is_nan() {
        // What the guard in `absorb` prevents: m_new = −∞ makes both exponentials exp(NaN).
        let (max_old, max_new, score) = (f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
        assert!((max_old - max_new).exp().is_nan());
        assert!((score - max_new).exp().is_nan());
    }
}
