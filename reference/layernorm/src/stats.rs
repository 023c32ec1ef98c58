//! Row reductions with independent accumulators, and the two-pass mean/variance.

/// Number of independent partial sums per reduction.
const LANES: usize = 8;

/// `Σᵢ term(valuesᵢ)`, accumulated in eight independent partial sums.
///
/// A single accumulator is a serial dependency chain the compiler may not reorder (float
/// addition is not associative), so it can neither vectorise nor pipeline it; eight partial
/// sums fix both, and also shorten each chain 8×, so rounding error grows ~8× more slowly.
pub fn lane_sum(values: &[f64], term: impl Fn(f64) -> f64) -> f64 {
    let mut partial = [0.0_f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&v| term(v)).sum();
    for chunk in chunks {
        for (acc, &v) in partial.iter_mut().zip(chunk) {
            *acc += term(v);
        }
    }
    partial.iter().sum::<f64>() + tail
}

/// `Σᵢ aᵢ bᵢ` with the same independent accumulators as [`lane_sum`].
///
/// # Panics
/// If the slices differ in length (a caller bug, never input data).
pub fn lane_dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lane_dot of slices of different lengths");
    let mut partial = [0.0_f64; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = (a_chunks.remainder().iter())
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (a_chunk, b_chunk) in a_chunks.zip(b_chunks) {
        for ((acc, x), y) in partial.iter_mut().zip(a_chunk).zip(b_chunk) {
            *acc += x * y;
        }
    }
    partial.iter().sum::<f64>() + tail
}

/// Mean and biased variance of `row` by the two-pass algorithm: `μ = mean(x)`, then
/// `σ² = mean((x − μ)²)`.
///
/// Never `E[x²] − E[x]²`: see the crate docs, "Numerical stability". Returns `(NaN, NaN)` for
/// an empty row; callers reject D = 0 before getting here.
pub fn mean_and_variance(row: &[f64]) -> (f64, f64) {
    let n = row.len() as f64;
    let mean = lane_sum(row, |v| v) / n;
    let variance = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
    (mean, variance)
}
