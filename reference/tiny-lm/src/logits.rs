//! Reductions over a logits vector.

use ndarray::{Array1, ArrayView1};

/// `log_softmax(x)_i = x_i - m - ln Σ_j exp(x_j - m)` with `m = max_j x_j`.
///
/// Subtracting the maximum keeps every exponent ≤ 0, so logits of magnitude 1e4 neither
/// overflow nor underflow to `ln 0`; the result stays in log space and a log-prob of −1e4 is
/// represented exactly instead of collapsing to `-inf`. Entries that are `-inf` (impossible
/// tokens) stay `-inf`.
pub fn log_softmax(logits: ArrayView1<'_, f64>) -> Array1<f64> {
    let max = logits.fold(f64::NEG_INFINITY, |m, &x| m.max(x));
    let log_sum_exp = max + logits.iter().map(|&x| (x - max).exp()).sum::<f64>().ln();
    logits.mapv(|x| x - log_sum_exp)
}

/// Index of the largest entry; ties go to the LOWEST index (NumPy's `argmax` convention), so
/// greedy decoding in Rust and in Python picks the same token. `None` for an empty vector.
pub fn argmax(values: ArrayView1<'_, f64>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (index, &value) in values.iter().enumerate() {
        if best.is_none_or(|(_, best_value)| value > best_value) {
            best = Some((index, value));
        }
    }
    best.map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn log_softmax_matches_the_direct_formula_on_small_logits() {
        let x = array![0.5, -1.0, 2.0, 0.0];
        let z: f64 = x.iter().map(|v: &f64| v.exp()).sum();
        let direct = x.mapv(|v| (v.exp() / z).ln());
        let stable = log_softmax(x.view());
        for (a, b) in stable.iter().zip(direct.iter()) {
            assert!((a - b).abs() < 1e-14);
        }
    }

    #[test]
    fn log_softmax_keeps_huge_logits_finite() {
        // exp(1e4) overflows and exp(-1e4) underflows: only the max-shifted form survives.
        let lp = log_softmax(array![1e4, 0.0, 1e4 - 2.0].view());
        let tail = (1.0 + (-2.0f64).exp()).ln();
        assert!((lp[0] + tail).abs() < 1e-12);
        assert!((lp[1] - (-1e4 - tail)).abs() < 1e-9);
        assert!((lp[2] - (-2.0 - tail)).abs() < 1e-12);
    }

    #[test]
    fn argmax_breaks_ties_towards_the_lowest_index() {
        assert_eq!(argmax(array![1.0, 3.0, 3.0, -2.0].view()), Some(1));
        assert_eq!(
            argmax(array![f64::NEG_INFINITY, f64::NEG_INFINITY].view()),
            Some(0)
        );
        assert_eq!(argmax(Array1::<f64>::zeros(0).view()), None);
    }
}
