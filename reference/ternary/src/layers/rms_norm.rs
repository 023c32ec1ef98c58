//! RMSNorm (no mean subtraction, no bias):
//!
//! ```text
//! r = 1 / sqrt(mean_j x_j² + ε),   y_j = g_j · x_j · r
//! ```
//!
//! Backward, with `u = dy ⊙ g` and `d` features:
//!
//! ```text
//! ∂L/∂x = r · u − x · r³ · (u·x) / d,      ∂L/∂g = Σ_rows dy ⊙ x · r
//! ```

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis, Zip};

/// Returns `y` and the per-row `r` the backward pass needs.
pub(crate) fn forward(
    x: ArrayView2<f32>,
    gain: ArrayView1<f32>,
    eps: f32,
) -> (Array2<f32>, Array1<f32>) {
    let d = x.ncols() as f32;
    let mut y = Array2::zeros(x.raw_dim());
    let mut inv_rms = Array1::zeros(x.nrows());
    Zip::from(y.rows_mut())
        .and(x.rows())
        .and(&mut inv_rms)
        .for_each(|mut y_row, x_row, r| {
            let mean_square = x_row.dot(&x_row) / d;
            *r = 1.0 / (mean_square + eps).sqrt();
            Zip::from(&mut y_row)
                .and(&x_row)
                .and(&gain)
                .for_each(|y, &x, &g| *y = g * x * *r);
        });
    (y, inv_rms)
}

/// Returns `∂L/∂x` and adds `∂L/∂g` into `d_gain`.
pub(crate) fn backward(
    x: ArrayView2<f32>,
    gain: ArrayView1<f32>,
    inv_rms: ArrayView1<f32>,
    dy: ArrayView2<f32>,
    d_gain: &mut ArrayViewMut1<f32>,
) -> Array2<f32> {
    let d = x.ncols() as f32;
    let mut dx = Array2::zeros(x.raw_dim());
    Zip::from(dx.rows_mut())
        .and(x.rows())
        .and(dy.rows())
        .and(&inv_rms)
        .for_each(|mut dx_row, x_row, dy_row, &r| {
            let u_dot_x: f32 = Zip::from(&dy_row)
                .and(&gain)
                .and(&x_row)
                .fold(0.0, |acc, &dy, &g, &x| acc + dy * g * x);
            let coefficient = r * r * r * u_dot_x / d;
            Zip::from(&mut dx_row)
                .and(&dy_row)
                .and(&gain)
                .and(&x_row)
                .for_each(|dx, &dy, &g, &x| *dx = r * dy * g - x * coefficient);
        });
    // ∂L/∂g = Σ_rows dy ⊙ (x · r)
    for ((x_row, dy_row), &r) in x.axis_iter(Axis(0)).zip(dy.axis_iter(Axis(0))).zip(inv_rms) {
        Zip::from(&mut *d_gain)
            .and(&x_row)
            .and(&dy_row)
            .for_each(|dg, &x, &dy| *dg += dy * x * r);
    }
    dx
}
