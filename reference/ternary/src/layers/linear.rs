//! Bias-free linear map `y = x·Wᵀ` with `W` stored `[out_features, in_features]` (the PyTorch
//! and Hugging Face layout, so the 128-weight groups of a row run along the input dimension).
//!
//! In the model `W` is the *projected* ternary weight `Ŵ`; by the straight-through estimator the
//! gradient computed here with respect to `Ŵ` is the gradient of the latent weight.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// `y = x·Wᵀ`.
pub(crate) fn forward(x: ArrayView2<f32>, w: ArrayView2<f32>) -> Array2<f32> {
    x.dot(&w.t())
}

/// Adds `∂L/∂W = dyᵀ·x` into `dw` and adds `∂L/∂x = dy·W` into `dx`.
///
/// Accumulating `dx` lets the q, k and v projections, which read the same input, sum their input
/// gradients without temporaries.
pub(crate) fn backward_accumulate(
    x: ArrayView2<f32>,
    w: ArrayView2<f32>,
    dy: ArrayView2<f32>,
    dw: &mut ArrayViewMut2<f32>,
    dx: &mut ArrayViewMut2<f32>,
) {
    general_mat_mul(1.0, &dy.t(), &x, 1.0, dw);
    general_mat_mul(1.0, &dy, &w, 1.0, dx);
}
