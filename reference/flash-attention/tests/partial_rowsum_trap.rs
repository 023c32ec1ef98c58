//! The prompt's step 2e, taken literally, against the reference: how wrong a backward pass is
//! that subtracts `rowsum(P * dP)` of ONE key tile instead of D_i = Σ_j P_ij dP_ij over the whole
//! row. The literal version lives only here, to measure the trap; the crate does not ship it.

mod common;

use common::{Inputs, inputs, relative_error};
use flash_attention::{FlashAttention, Gradients, naive};
use ndarray::{Array2, Array4, ArrayView2, Axis, s};

/// The prompt's backward for one head, step by step: Q tiles outside, KV tiles inside,
/// dS = P ∘ (dP − rowsum_PdP) with the rowsum of the current tile only.
fn literal_prompt_backward_head(
    d_o: ArrayView2<f64>,
    q: ArrayView2<f64>,
    k: ArrayView2<f64>,
    v: ArrayView2<f64>,
    lse: &[f64],
    tile: usize,
) -> [Array2<f64>; 3] {
    let (n, d) = q.dim();
    let scale = 1.0 / (d as f64).sqrt();
    let (mut dq, mut dk, mut dv) = (
        Array2::zeros((n, d)),
        Array2::zeros((n, d)),
        Array2::zeros((n, d)),
    );
    for q0 in (0..n).step_by(tile) {
        let q1 = (q0 + tile).min(n);
        for k0 in (0..n).step_by(tile) {
            let k1 = (k0 + tile).min(n);
            if k0 > q1 - 1 {
                continue; // causal: wholly above the diagonal
            }
            let q_i = q.slice(s![q0..q1, ..]);
            let (k_j, v_j) = (k.slice(s![k0..k1, ..]), v.slice(s![k0..k1, ..]));
            let d_o_i = d_o.slice(s![q0..q1, ..]);
            // a) + b): P = exp(S − L) with the causal mask.
            let mut p = q_i.dot(&k_j.t()) * scale;
            for ((r, c), x) in p.indexed_iter_mut() {
                *x = if k0 + c > q0 + r {
                    0.0
                } else {
                    (*x - lse[q0 + r]).exp()
                };
            }
            // c) dV_tile += Pᵀ dO_tile
            dv.slice_mut(s![k0..k1, ..])
                .scaled_add(1.0, &p.t().dot(&d_o_i));
            // d) + e): dS with the rowsum of THIS tile only.
            let dp = d_o_i.dot(&v_j.t());
            let rowsum_pdp = (&p * &dp).sum_axis(Axis(1)).insert_axis(Axis(1));
            let ds = &p * &(&dp - &rowsum_pdp);
            // f) + g), with the scale of S.
            dq.slice_mut(s![q0..q1, ..])
                .scaled_add(scale, &ds.dot(&k_j));
            dk.slice_mut(s![k0..k1, ..])
                .scaled_add(scale, &ds.t().dot(&q_i));
        }
    }
    [dq, dk, dv]
}

fn literal_prompt_backward(x: &Inputs, tile: usize) -> Gradients<f64> {
    let lse = naive::attention(x.q.view(), x.k.view(), x.v.view(), true)
        .unwrap()
        .lse;
    let mut grads = Gradients {
        dq: Array4::zeros(x.q.raw_dim()),
        dk: Array4::zeros(x.q.raw_dim()),
        dv: Array4::zeros(x.q.raw_dim()),
    };
    let (batch, heads, _, _) = x.q.dim();
    for b in 0..batch {
        for h in 0..heads {
            let head = |a: &Array4<f64>| a.slice(s![b, h, .., ..]).to_owned();
            let lse_row = lse.slice(s![b, h, ..]).to_vec();
            let [dq, dk, dv] = literal_prompt_backward_head(
                head(&x.d_o).view(),
                head(&x.q).view(),
                head(&x.k).view(),
                head(&x.v).view(),
                &lse_row,
                tile,
            );
            grads.dq.slice_mut(s![b, h, .., ..]).assign(&dq);
            grads.dk.slice_mut(s![b, h, .., ..]).assign(&dk);
            grads.dv.slice_mut(s![b, h, .., ..]).assign(&dv);
        }
    }
    grads
}

/// Relative errors of (dQ, dK, dV) against the naive backward.
fn errors(got: &Gradients<f64>, x: &Inputs) -> [f64; 3] {
    let want =
        naive::attention_backward(x.d_o.view(), x.q.view(), x.k.view(), x.v.view(), true).unwrap();
    [
        relative_error(got.dq.view(), want.dq.view()),
        relative_error(got.dk.view(), want.dk.view()),
        relative_error(got.dv.view(), want.dv.view()),
    ]
}

#[test]
fn per_tile_rowsum_is_wrong_whenever_a_row_spans_several_key_tiles() {
    // The prompt's Test 1 configuration (B=1, H=1, N=64, D=32, T=16) and Test 2 (B=2, H=4,
    // N=256, D=64, T=64).
    for (shape, tile) in [((1, 1, 64, 32), 16), ((2, 4, 256, 64), 64)] {
        let x = inputs(shape, 9);
        let literal = literal_prompt_backward(&x, tile);
        let [dq, dk, dv] = errors(&literal, &x);
        let want =
            naive::attention_backward(x.d_o.view(), x.q.view(), x.k.view(), x.v.view(), true)
                .unwrap();
        let norm_error = |got: &Array4<f64>, want: &Array4<f64>| {
            let diff = got - want;
            (diff.iter().map(|e| e * e).sum::<f64>() / want.iter().map(|e| e * e).sum::<f64>())
                .sqrt()
        };
        println!(
            "literal step 2e, shape {shape:?} T {tile}: max|err|/max|ref| dQ {dq:.3} dK {dk:.3} dV {dv:.1e}; \
             ||err||/||ref|| dQ {:.3} dK {:.3}",
            norm_error(&literal.dq, &want.dq),
            norm_error(&literal.dk, &want.dk),
        );
        assert!(
            dq > 0.05 && dk > 0.05,
            "the trap should be visible: dQ {dq} dK {dk}"
        );
        assert!(dv < 1e-12, "dV does not use D and should be right: {dv:e}");

        let attention = FlashAttention::new(tile, true);
        let fwd = attention
            .forward(x.q.view(), x.k.view(), x.v.view())
            .unwrap();
        let reference = attention
            .backward(
                x.d_o.view(),
                x.q.view(),
                x.k.view(),
                x.v.view(),
                fwd.o.view(),
                fwd.lse.view(),
            )
            .unwrap();
        let [dq, dk, dv] = errors(&reference, &x);
        assert!(
            dq.max(dk).max(dv) < 1e-12,
            "reference: dQ {dq:e} dK {dk:e} dV {dv:e}"
        );
    }
}

#[test]
fn per_tile_rowsum_is_right_when_one_key_tile_covers_the_row() {
    let x = inputs((1, 1, 64, 32), 9);
    let [dq, dk, dv] = errors(&literal_prompt_backward(&x, 64), &x);
    assert!(
        dq.max(dk).max(dv) < 1e-12,
        "T = N: dQ {dq:e} dK {dk:e} dV {dv:e}"
    );
}
