//! The tiled forward and backward against the full-matrix `naive` module.

mod common;

use common::{Inputs, inputs, relative_error};
use flash_attention::{AttentionError, FlashAttention, Parallelism, naive};
use ndarray::{Array4, Axis};

/// (N, T) pairs: T divides N, T does not divide N, N < T, N = 1, T = 1.
const SIZES: [(usize, usize); 8] = [
    (64, 16),
    (100, 16),
    (100, 64),
    (130, 128),
    (37, 128),
    (5, 16),
    (1, 16),
    (9, 1),
];

fn check_forward(x: &Inputs, tile: usize, causal: bool, tolerance: f64) {
    let got = FlashAttention::new(tile, causal)
        .forward(x.q.view(), x.k.view(), x.v.view())
        .unwrap();
    let want = naive::attention(x.q.view(), x.k.view(), x.v.view(), causal).unwrap();
    let context = format!("shape {:?} tile {tile} causal {causal}", x.q.shape());
    assert!(
        got.o.iter().chain(&got.lse).all(|x| x.is_finite()),
        "{context}: non-finite output"
    );
    let o_error = relative_error(got.o.view(), want.o.view());
    let lse_error = relative_error(got.lse.view(), want.lse.view());
    assert!(
        o_error < tolerance,
        "{context}: O relative error {o_error:e}"
    );
    assert!(
        lse_error < tolerance,
        "{context}: L relative error {lse_error:e}"
    );
}

fn check_backward(x: &Inputs, tile: usize, causal: bool, tolerance: f64) {
    let attention = FlashAttention::new(tile, causal);
    let fwd = attention
        .forward(x.q.view(), x.k.view(), x.v.view())
        .unwrap();
    let got = attention
        .backward(
            x.d_o.view(),
            x.q.view(),
            x.k.view(),
            x.v.view(),
            fwd.o.view(),
            fwd.lse.view(),
        )
        .unwrap();
    let want = naive::attention_backward(x.d_o.view(), x.q.view(), x.k.view(), x.v.view(), causal)
        .unwrap();
    for (name, got, want) in [
        ("dQ", &got.dq, &want.dq),
        ("dK", &got.dk, &want.dk),
        ("dV", &got.dv, &want.dv),
    ] {
        let error = relative_error(got.view(), want.view());
        assert!(
            error < tolerance,
            "shape {:?} tile {tile} causal {causal}: {name} relative error {error:e}",
            x.q.shape()
        );
    }
}

#[test]
fn forward_matches_naive_for_every_tiling() {
    for (seed, &(n, tile)) in SIZES.iter().enumerate() {
        let x = inputs((2, 3, n, 16), seed as u64 * 10);
        for causal in [false, true] {
            check_forward(&x, tile, causal, 1e-13);
        }
    }
}

#[test]
fn backward_matches_naive_for_every_tiling() {
    for (seed, &(n, tile)) in SIZES.iter().enumerate() {
        let x = inputs((2, 3, n, 16), 100 + seed as u64 * 10);
        for causal in [false, true] {
            check_backward(&x, tile, causal, 1e-12);
        }
    }
}

#[test]
fn prompt_test_2_configuration_matches_naive_backward() {
    // B=2, H=4, N=256, D=64, T=64, causal: several key tiles per row.
    let x = inputs((2, 4, 256, 64), 7);
    check_backward(&x, 64, true, 1e-12);
}

#[test]
fn large_magnitude_scores_stay_finite_and_correct() {
    // Scores S = q·k/√D with |S| up to ~1e3: a rescale in the wrong direction, or exp without
    // subtracting the max, overflows here.
    let mut x = inputs((1, 2, 70, 16), 21);
    x.q *= 20.0;
    x.k *= 20.0;
    let scores =
        x.q.index_axis(Axis(0), 0)
            .index_axis(Axis(0), 0)
            .dot(&x.k.index_axis(Axis(0), 0).index_axis(Axis(0), 0).t())
            / 4.0;
    let largest = scores.iter().fold(0.0f64, |m, s| m.max(s.abs()));
    assert!(largest > 1000.0, "fixture too small: max |S| = {largest}");
    let [q, k, v] = [&x.q, &x.k, &x.v].map(|a| a.mapv(|x| x as f32));
    for causal in [false, true] {
        check_forward(&x, 16, causal, 1e-12);
        check_backward(&x, 16, causal, 1e-10);
        let f32_out = FlashAttention::new(16, causal)
            .forward(q.view(), k.view(), v.view())
            .unwrap();
        assert!(
            f32_out.o.iter().chain(&f32_out.lse).all(|x| x.is_finite()),
            "f32 overflowed"
        );
    }
}

#[test]
fn f32_inputs_match_the_f64_naive_result() {
    for (seed, &(n, tile)) in SIZES.iter().enumerate() {
        let x = inputs((2, 2, n, 16), 200 + seed as u64);
        let [q, k, v, d_o] = [&x.q, &x.k, &x.v, &x.d_o].map(|a| a.mapv(|x| x as f32));
        for causal in [false, true] {
            let attention = FlashAttention::new(tile, causal);
            let fwd = attention.forward(q.view(), k.view(), v.view()).unwrap();
            let grads = attention
                .backward(
                    d_o.view(),
                    q.view(),
                    k.view(),
                    v.view(),
                    fwd.o.view(),
                    fwd.lse.view(),
                )
                .unwrap();
            let want = naive::attention(x.q.view(), x.k.view(), x.v.view(), causal).unwrap();
            let want_grads =
                naive::attention_backward(x.d_o.view(), x.q.view(), x.k.view(), x.v.view(), causal)
                    .unwrap();
            let context = format!("N {n} tile {tile} causal {causal}");
            let pairs = [
                ("O", fwd.o.mapv(f64::from), want.o),
                ("dQ", grads.dq.mapv(f64::from), want_grads.dq),
                ("dK", grads.dk.mapv(f64::from), want_grads.dk),
                ("dV", grads.dv.mapv(f64::from), want_grads.dv),
            ];
            for (name, got, want) in pairs {
                let error = relative_error(got.view(), want.view());
                assert!(error < 1e-5, "{context}: {name} relative error {error:e}");
            }
            let lse_error = relative_error(fwd.lse.mapv(f64::from).view(), want.lse.view());
            assert!(
                lse_error < 1e-6,
                "{context}: L relative error {lse_error:e}"
            );
        }
    }
}

#[test]
fn rayon_gives_the_sequential_result() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // One head (the backward splits its key tiles over two workers with a private dQ) and
    // three heads (one worker per head).
    for (shape, tile) in [((1, 1, 150, 8), 16), ((1, 3, 70, 8), 32)] {
        let x = inputs(shape, 300);
        for causal in [false, true] {
            let sequential = FlashAttention::new(tile, causal);
            let parallel = sequential.with_parallelism(Parallelism::Rayon);
            let (fwd, fwd_par) = pool.install(|| {
                (
                    sequential
                        .forward(x.q.view(), x.k.view(), x.v.view())
                        .unwrap(),
                    parallel
                        .forward(x.q.view(), x.k.view(), x.v.view())
                        .unwrap(),
                )
            });
            assert_eq!(
                fwd, fwd_par,
                "forward differs, shape {shape:?} causal {causal}"
            );
            let (o, lse) = (fwd.o.view(), fwd.lse.view());
            let (grads, grads_par) = pool.install(|| {
                (
                    sequential
                        .backward(x.d_o.view(), x.q.view(), x.k.view(), x.v.view(), o, lse)
                        .unwrap(),
                    parallel
                        .backward(x.d_o.view(), x.q.view(), x.k.view(), x.v.view(), o, lse)
                        .unwrap(),
                )
            });
            assert_eq!(grads.dk, grads_par.dk);
            assert_eq!(grads.dv, grads_par.dv);
            // dQ differs only in the order its partial sums were added.
            let error = relative_error(grads_par.dq.view(), grads.dq.view());
            assert!(error < 1e-14, "dQ relative error {error:e}");
        }
    }
}

#[test]
fn any_memory_layout_gives_the_same_result() {
    let x = inputs((2, 3, 40, 8), 400);
    // The same values stored as (B, N, H, D) and viewed as (B, H, N, D).
    let permuted = |a: &Array4<f64>| {
        a.view()
            .permuted_axes([0, 2, 1, 3])
            .as_standard_layout()
            .into_owned()
    };
    let [q, k, v] = [&x.q, &x.k, &x.v].map(permuted);
    fn strided(a: &Array4<f64>) -> ndarray::ArrayView4<'_, f64> {
        a.view().permuted_axes([0, 2, 1, 3])
    }
    let attention = FlashAttention::new(16, true);
    let standard = attention
        .forward(x.q.view(), x.k.view(), x.v.view())
        .unwrap();
    let other = attention
        .forward(strided(&q), strided(&k), strided(&v))
        .unwrap();
    assert!(!strided(&q).is_standard_layout());
    assert_eq!(relative_error(other.o.view(), standard.o.view()), 0.0);
}

#[test]
fn bad_arguments_are_errors() {
    let x = inputs((1, 2, 8, 4), 500);
    let short = x.k.slice(ndarray::s![.., .., ..7, ..]);
    let attention = FlashAttention::new(4, true);
    assert!(matches!(
        attention.forward(x.q.view(), short, x.v.view()),
        Err(AttentionError::ShapeMismatch { name: "k", .. })
    ));
    assert_eq!(
        FlashAttention::new(0, true).forward(x.q.view(), x.k.view(), x.v.view()),
        Err(AttentionError::ZeroTile)
    );
    let empty = Array4::<f64>::zeros((1, 1, 3, 0));
    assert_eq!(
        attention.forward(empty.view(), empty.view(), empty.view()),
        Err(AttentionError::EmptyHeadDim)
    );
    let fwd = attention
        .forward(x.q.view(), x.k.view(), x.v.view())
        .unwrap();
    let wrong_lse = fwd.lse.slice(ndarray::s![.., ..1, ..]);
    assert!(matches!(
        attention.backward(
            x.d_o.view(),
            x.q.view(),
            x.k.view(),
            x.v.view(),
            fwd.o.view(),
            wrong_lse
        ),
        Err(AttentionError::ShapeMismatch { name: "lse", .. })
    ));
    assert!(matches!(
        naive::attention(x.q.view(), x.k.view(), short, false),
        Err(AttentionError::ShapeMismatch { name: "v", .. })
    ));
}

#[test]
fn empty_inputs_give_empty_outputs() {
    for shape in [(1, 2, 0, 4), (0, 2, 5, 4), (2, 0, 5, 4)] {
        let x = inputs(shape, 600);
        for parallelism in [Parallelism::Sequential, Parallelism::Rayon] {
            let attention = FlashAttention::new(4, true).with_parallelism(parallelism);
            let fwd = attention
                .forward(x.q.view(), x.k.view(), x.v.view())
                .unwrap();
            assert_eq!(fwd.o.dim(), shape);
            assert_eq!(fwd.lse.dim(), (shape.0, shape.1, shape.2));
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
            assert_eq!(grads.dq.dim(), shape);
        }
    }
}
