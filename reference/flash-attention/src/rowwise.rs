//! The element-wise work on one row of a score tile.
//!
//! Plain loops written so that the compiler vectorises them; they are `#[inline(always)]` so
//! that they take on the vector width of the tile-level kernel that calls them (see
//! [`crate::simd`]). Reductions keep `LANES` independent partial results, so that the compiler
//! may vectorise them without reassociating a single running sum, and combine them pairwise at the
//! end (a log-depth tree of vector operations rather than a serial chain of `LANES` scalar ones,
//! which on 128-key rows cost as much as the loop itself).

use crate::float::Float;

/// Independent partial sums / maxima per reduction; a multiple of every vector width in use.
const LANES: usize = 16;

/// Combines the partial results pairwise: lanes i and i + w for w = LANES/2, LANES/4, …, 1.
#[inline(always)]
fn reduce_pairwise<F: Float>(mut partial: [F; LANES], combine: impl Fn(F, F) -> F) -> F {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            partial[i] = combine(partial[i], partial[i + width]);
        }
    }
    partial[0]
}

#[inline(always)]
fn larger<F: Float>(a: F, b: F) -> F {
    if b > a { b } else { a }
}

/// max_j row[j]; −∞ for an empty or fully masked row.
#[inline(always)]
pub fn row_max<F: Float>(row: &[F]) -> F {
    let mut partial = [F::neg_infinity(); LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (best, &x) in partial.iter_mut().zip(chunk) {
            *best = larger(*best, x);
        }
    }
    let tail = chunks.remainder().iter().copied();
    tail.fold(reduce_pairwise(partial, larger), larger)
}

/// row[j] ← exp(row[j] − shift); returns Σ_j of the new values.
#[inline(always)]
pub fn exp_shifted_sum<F: Float>(row: &mut [F], shift: F) -> F {
    let mut partial = [F::zero(); LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (sum, x) in partial.iter_mut().zip(chunk) {
            *x = (*x - shift).exp_vectorizable();
            *sum += *x;
        }
    }
    let mut total = reduce_pairwise(partial, |a, b| a + b);
    for x in chunks.into_remainder() {
        *x = (*x - shift).exp_vectorizable();
        total += *x;
    }
    total
}

/// row[j] ← exp(row[j] − shift).
#[inline(always)]
pub fn exp_shifted<F: Float>(row: &mut [F], shift: F) {
    for x in row.iter_mut() {
        *x = (*x - shift).exp_vectorizable();
    }
}

/// row[j] ← factor · row[j].
#[inline(always)]
pub fn scale<F: Float>(row: &mut [F], factor: F) {
    for x in row.iter_mut() {
        *x *= factor;
    }
}

/// The softmax gradient of one row: dp[j] ← p[j] · (dp[j] − d), where d = Σ_j p[j]·dp[j]
/// over the whole row (see [`crate::backward`] for why it must be the whole row).
#[inline(always)]
pub fn softmax_grad<F: Float>(p: &[F], dp: &mut [F], d: F) {
    for (g, &pj) in dp.iter_mut().zip(p) {
        *g = pj * (*g - d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 37 % 23) as f64 - 11.0) * 0.37)
            .collect()
    }

    #[test]
    fn kernels_match_scalar_definitions_for_every_tail_length() {
        for len in [0, 1, 7, 16, 17, 33, 130] {
            let row = sample(len);
            let expected_max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(row_max(&row), expected_max);

            let shift = 1.5;
            let mut probabilities = row.clone();
            let sum = exp_shifted_sum(&mut probabilities, shift);
            let expected: Vec<f64> = row.iter().map(|x| (x - shift).exp()).collect();
            for (got, want) in probabilities.iter().zip(&expected) {
                approx::assert_relative_eq!(got, want, max_relative = 1e-14);
            }
            approx::assert_relative_eq!(sum, expected.iter().sum::<f64>(), max_relative = 1e-13);

            let mut unsummed = row.clone();
            exp_shifted(&mut unsummed, shift);
            assert_eq!(unsummed, probabilities);

            let mut grad = row.clone();
            softmax_grad(&probabilities, &mut grad, 0.25);
            for ((g, p), dp) in grad.iter().zip(&probabilities).zip(&row) {
                approx::assert_relative_eq!(*g, p * (dp - 0.25), max_relative = 1e-15);
            }
        }
    }

    #[test]
    fn masked_row_gives_zero_probabilities_and_negative_infinite_max() {
        let mut row = vec![f32::NEG_INFINITY; 20];
        assert_eq!(row_max(&row), f32::NEG_INFINITY);
        assert_eq!(exp_shifted_sum(&mut row, 0.0), 0.0);
        assert!(row.iter().all(|&p| p == 0.0));
    }
}
