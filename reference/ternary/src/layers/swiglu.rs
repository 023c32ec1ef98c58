//! SwiGLU gate of the MLP: `a = silu(g) ⊙ u` with `silu(g) = g·σ(g)`.
//!
//! ```text
//! ∂L/∂u = da ⊙ silu(g),    ∂L/∂g = da ⊙ u ⊙ σ(g)·(1 + g·(1 − σ(g)))
//! ```

use ndarray::{Array2, ArrayView2, Zip};

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub(crate) fn forward(gate: ArrayView2<f32>, up: ArrayView2<f32>) -> Array2<f32> {
    Zip::from(&gate)
        .and(&up)
        .map_collect(|&g, &u| g * sigmoid(g) * u)
}

/// Returns `(∂L/∂gate, ∂L/∂up)`.
pub(crate) fn backward(
    gate: ArrayView2<f32>,
    up: ArrayView2<f32>,
    d_act: ArrayView2<f32>,
) -> (Array2<f32>, Array2<f32>) {
    let mut d_gate = Array2::zeros(gate.raw_dim());
    let mut d_up = Array2::zeros(up.raw_dim());
    Zip::from(&mut d_gate)
        .and(&mut d_up)
        .and(&gate)
        .and(&up)
        .and(&d_act)
        .for_each(|dg, du, &g, &u, &da| {
            let sig = sigmoid(g);
            *du = da * g * sig;
            *dg = da * u * sig * (1.0 + g * (1.0 - sig));
        });
    (d_gate, d_up)
}
