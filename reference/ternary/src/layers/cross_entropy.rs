//! Mean next-token cross-entropy over the rows of a logit matrix:
//!
//! ```text
//! L = −(1/N) Σ_n log softmax(z_n)[t_n],     ∂L/∂z_n = (softmax(z_n) − onehot(t_n)) / N
//! ```
//!
//! computed with the max subtracted (log-sum-exp), the loss accumulated in f64.

use ndarray::{Array2, ArrayView1, ArrayView2, Axis, Zip};

/// `log Σ_j exp(z_j)`, stable for large logits.
fn log_sum_exp(z: ArrayView1<f32>) -> f32 {
    let max = z.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    max + z.fold(0.0, |acc, &x| acc + (x - max).exp()).ln()
}

/// Negative log-likelihood of every row's target (for evaluation).
pub(crate) fn nll_per_row(logits: ArrayView2<f32>, targets: &[usize]) -> Vec<f64> {
    logits
        .axis_iter(Axis(0))
        .zip(targets)
        .map(|(z, &t)| f64::from(log_sum_exp(z) - z[t]))
        .collect()
}

/// Mean loss and its gradient with respect to the logits.
pub(crate) fn loss_and_gradient(logits: ArrayView2<f32>, targets: &[usize]) -> (f64, Array2<f32>) {
    let n = logits.nrows();
    let mut d_logits = Array2::zeros(logits.raw_dim());
    let mut total = 0.0f64;
    Zip::from(d_logits.rows_mut())
        .and(logits.rows())
        .and(targets)
        .for_each(|mut dz, z, &t| {
            let lse = log_sum_exp(z);
            total += f64::from(lse - z[t]);
            Zip::from(&mut dz)
                .and(&z)
                .for_each(|d, &x| *d = (x - lse).exp() / n as f32);
            dz[t] -= 1.0 / n as f32;
        });
    (total / n as f64, d_logits)
}
