//! The tiled backward against central finite differences of the tiled forward, for every
//! element of Q, K and V.

mod common;

use common::{inputs, relative_error};
use flash_attention::FlashAttention;
use ndarray::Array4;

/// loss(Q, K, V) = Σ dO ∘ O(Q, K, V), whose gradient with respect to O is dO.
fn loss(
    attention: &FlashAttention,
    q: &Array4<f64>,
    k: &Array4<f64>,
    v: &Array4<f64>,
    d_o: &Array4<f64>,
) -> f64 {
    let o = attention.forward(q.view(), k.view(), v.view()).unwrap().o;
    (&o * d_o).sum()
}

/// ∂loss/∂x for every element of x (one of Q, K, V), by (loss(x + h) − loss(x − h)) / 2h.
fn central_differences(
    mut loss_at: impl FnMut(&Array4<f64>) -> f64,
    x: &Array4<f64>,
) -> Array4<f64> {
    const H: f64 = 1e-5;
    let mut shifted = x.clone();
    Array4::from_shape_fn(x.raw_dim(), |index| {
        shifted[index] = x[index] + H;
        let up = loss_at(&shifted);
        shifted[index] = x[index] - H;
        let down = loss_at(&shifted);
        shifted[index] = x[index];
        (up - down) / (2.0 * H)
    })
}

#[test]
fn backward_matches_central_differences() {
    // Several key tiles per row and a partial last tile (N = 10, T = 4).
    let x = inputs((1, 2, 10, 4), 42);
    for causal in [true, false] {
        let attention = FlashAttention::new(4, causal);
        let fwd = attention
            .forward(x.q.view(), x.k.view(), x.v.view())
            .unwrap();
        let grads = attention
            .backward(
                x.d_o.view(),
                x.q.view(),
                x.k.view(),
                x.v.view(),
                fwd.o.view(),
                fwd.lse.view(),
            )
            .unwrap();
        let numeric = [
            (
                "dQ",
                central_differences(|q| loss(&attention, q, &x.k, &x.v, &x.d_o), &x.q),
                &grads.dq,
            ),
            (
                "dK",
                central_differences(|k| loss(&attention, &x.q, k, &x.v, &x.d_o), &x.k),
                &grads.dk,
            ),
            (
                "dV",
                central_differences(|v| loss(&attention, &x.q, &x.k, v, &x.d_o), &x.v),
                &grads.dv,
            ),
        ];
        for (name, numeric, analytic) in numeric {
            let error = relative_error(analytic.view(), numeric.view());
            assert!(
                error < 1e-8,
                "causal {causal}: {name} differs from finite differences by {error:e}"
            );
        }
    }
}
