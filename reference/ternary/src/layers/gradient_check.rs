//! Central finite-difference checks of every layer's backward pass.
//!
//! The code is f32, so each check uses the scalar loss `L = Σ r ⊙ y` with fixed random `r`,
//! accumulated in f64, a step of 1e-2·max(1, |x|)... small enough for the curvature of these
//! layers at O(1) inputs and large enough that f32 rounding of `y` (~1e-7 relative) stays far
//! below the tolerance.

use ndarray::{Array, Array1, Array2, ArrayView2, Dimension, ShapeBuilder};
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Normal};

use super::attention::{self, AttentionShape};
use super::rope::{RopeTable, Rotation};
use super::{cross_entropy, embedding, linear, rms_norm, swiglu};
use crate::quant::{GROUP_SIZE, project_into};

const STEP: f32 = 1e-2;
const RELATIVE_TOLERANCE: f64 = 2e-2;
const ABSOLUTE_TOLERANCE: f64 = 2e-3;

fn random<Sh: ShapeBuilder>(shape: Sh, seed: u64) -> Array<f32, Sh::Dim> {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
    Array::from_shape_simple_fn(shape, || normal.sample(&mut rng))
}

/// `Σ r ⊙ y` in f64.
fn weighted_sum(y: ArrayView2<f32>, r: ArrayView2<f32>) -> f64 {
    y.iter()
        .zip(r)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// Compares `analytic` with central differences of `loss` with respect to every entry of `x`.
fn check_gradient<D: Dimension>(
    what: &str,
    x: &Array<f32, D>,
    analytic: &Array<f32, D>,
    loss: impl Fn(&Array<f32, D>) -> f64,
) {
    assert_eq!(x.shape(), analytic.shape(), "{what}: gradient shape");
    let mut probe = x.clone();
    for (i, (&x_i, &a_i)) in x.iter().zip(analytic.iter()).enumerate() {
        let step = STEP * x_i.abs().max(1.0);
        let entry = probe.iter_mut().nth(i).expect("index within the array");
        *entry = x_i + step;
        let plus = loss(&probe);
        *probe.iter_mut().nth(i).expect("index within the array") = x_i - step;
        let minus = loss(&probe);
        *probe.iter_mut().nth(i).expect("index within the array") = x_i;
        let numeric = (plus - minus) / (2.0 * f64::from(step));
        let error = (numeric - f64::from(a_i)).abs();
        assert!(
            error <= ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * numeric.abs(),
            "{what}[{i}]: analytic {a_i}, finite difference {numeric}"
        );
    }
}

#[test]
fn ternary_linear_with_straight_through_estimator() {
    // Two output rows of 128 inputs: one group per row.
    let latent = random((2, GROUP_SIZE), 1);
    let mut w_q = Array2::zeros(latent.raw_dim());
    project_into(
        latent.as_slice().expect("contiguous"),
        GROUP_SIZE,
        w_q.as_slice_mut().expect("contiguous"),
    )
    .unwrap();
    let x = random((3, GROUP_SIZE), 2);
    let r = random((3, 2), 3);

    let mut d_latent = Array2::zeros(latent.raw_dim());
    let mut dx = Array2::zeros(x.raw_dim());
    linear::backward_accumulate(
        x.view(),
        w_q.view(),
        r.view(),
        &mut d_latent.view_mut(),
        &mut dx.view_mut(),
    );

    // STE: the latent weight's gradient is the gradient with respect to the projected weight.
    check_gradient("linear dW_q", &w_q, &d_latent, |w| {
        weighted_sum(linear::forward(x.view(), w.view()).view(), r.view())
    });
    check_gradient("linear dx", &x, &dx, |x| {
        weighted_sum(linear::forward(x.view(), w_q.view()).view(), r.view())
    });
}

#[test]
fn rms_norm() {
    let x = random((4, 6), 4);
    let gain = random(6, 5);
    let r = random((4, 6), 6);
    let eps = 1e-5;
    let (_, inv_rms) = rms_norm::forward(x.view(), gain.view(), eps);
    let mut d_gain = Array1::zeros(6);
    let dx = rms_norm::backward(
        x.view(),
        gain.view(),
        inv_rms.view(),
        r.view(),
        &mut d_gain.view_mut(),
    );
    check_gradient("rms_norm dx", &x, &dx, |x| {
        weighted_sum(
            rms_norm::forward(x.view(), gain.view(), eps).0.view(),
            r.view(),
        )
    });
    check_gradient("rms_norm dgain", &gain, &d_gain, |g| {
        weighted_sum(
            rms_norm::forward(x.view(), g.view(), eps).0.view(),
            r.view(),
        )
    });
}

#[test]
fn rope() {
    // batch 2, seq 3, 2 heads of width 4.
    let table = RopeTable::new(3, 4, 10.0);
    let x = random((6, 8), 7);
    let r = random((6, 8), 8);
    let rotate = |x: &Array2<f32>| {
        let mut y = x.clone();
        table.rotate(&mut y.view_mut(), 3, Rotation::Forward);
        y
    };
    let mut dx = r.clone();
    table.rotate(&mut dx.view_mut(), 3, Rotation::Inverse);
    check_gradient("rope dx", &x, &dx, |x| {
        weighted_sum(rotate(x).view(), r.view())
    });
    // Position 0 is not rotated; position 1 is.
    let y = rotate(&x);
    assert_eq!(y.row(0), x.row(0));
    assert_ne!(y.row(1), x.row(1));
}

#[test]
fn attention_with_gqa_and_causal_mask() {
    let shape = AttentionShape {
        batch: 2,
        seq_len: 4,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 3,
    };
    let q = random((8, 12), 9);
    let k = random((8, 6), 10);
    let v = random((8, 6), 11);
    let r = random((8, 12), 12);
    let (out, probs) = attention::forward(q.view(), k.view(), v.view(), shape);
    let (dq, dk, dv) = attention::backward(q.view(), k.view(), v.view(), &probs, r.view(), shape);
    let loss = |q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>| {
        weighted_sum(
            attention::forward(q.view(), k.view(), v.view(), shape)
                .0
                .view(),
            r.view(),
        )
    };
    check_gradient("attention dq", &q, &dq, |q| loss(q, &k, &v));
    check_gradient("attention dk", &k, &dk, |k| loss(&q, k, &v));
    check_gradient("attention dv", &v, &dv, |v| loss(&q, &k, v));

    // The first position of a sequence attends only to itself: its output is its own value row
    // of the head's KV group (query head 3 reads KV head 1).
    for c in 0..3 {
        assert!((out[[4, 9 + c]] - v[[4, 3 + c]]).abs() < 1e-6);
    }
}

#[test]
fn swiglu() {
    let gate = random((3, 5), 13);
    let up = random((3, 5), 14);
    let r = random((3, 5), 15);
    let (d_gate, d_up) = swiglu::backward(gate.view(), up.view(), r.view());
    check_gradient("swiglu dgate", &gate, &d_gate, |g| {
        weighted_sum(swiglu::forward(g.view(), up.view()).view(), r.view())
    });
    check_gradient("swiglu dup", &up, &d_up, |u| {
        weighted_sum(swiglu::forward(gate.view(), u.view()).view(), r.view())
    });
}

#[test]
fn embedding_scatter_add() {
    let table = random((7, 4), 16);
    let ids = [3, 0, 3, 6, 3];
    let r = random((5, 4), 17);
    let mut d_table = Array2::zeros(table.raw_dim());
    embedding::backward(&ids, r.view(), &mut d_table.view_mut());
    check_gradient("embedding dtable", &table, &d_table, |t| {
        weighted_sum(embedding::forward(t.view(), &ids).view(), r.view())
    });
}

#[test]
fn cross_entropy() {
    let logits = random((4, 6), 18) * 3.0;
    let targets = [5, 0, 2, 2];
    let (loss, d_logits) = cross_entropy::loss_and_gradient(logits.view(), &targets);
    check_gradient("cross_entropy dlogits", &logits, &d_logits, |z| {
        cross_entropy::loss_and_gradient(z.view(), &targets).0
    });
    let per_row = cross_entropy::nll_per_row(logits.view(), &targets);
    assert!((per_row.iter().sum::<f64>() / 4.0 - loss).abs() < 1e-9);
    // Uniform logits: log(vocab).
    let (uniform, _) = cross_entropy::loss_and_gradient(Array2::zeros((2, 6)).view(), &[1, 4]);
    assert!((uniform - 6f64.ln()).abs() < 1e-6);
}
