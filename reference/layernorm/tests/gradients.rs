//! The closed-form backward against finite differences and against the explicit Jacobian;
//! the forward against a hand-computed case; f32 inputs; error cases.

use layernorm::{
    LayerNormCache, LayerNormError, LayerNormGrads, layer_norm_backward, layer_norm_backward_into,
    layer_norm_forward, layer_norm_forward_into,
};
use ndarray::{Array1, Array3, ArrayView1, ArrayView3, Axis, array};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const EPS: f64 = 1e-5;

fn normal_array3(rng: &mut StdRng, shape: (usize, usize, usize)) -> Array3<f64> {
    Array3::from_shape_simple_fn(shape, || rng.sample(StandardNormal))
}

fn normal_array1(rng: &mut StdRng, len: usize) -> Array1<f64> {
    Array1::from_shape_simple_fn(len, || rng.sample(StandardNormal))
}

/// The scalar loss whose gradient the backward computes: `L = Σ dy ⊙ y`.
fn loss(
    x: ArrayView3<f64>,
    gamma: ArrayView1<f64>,
    beta: ArrayView1<f64>,
    dy: ArrayView3<f64>,
) -> f64 {
    let (y, _) = layer_norm_forward(x, gamma, beta, EPS).unwrap();
    (&y * &dy).sum()
}

/// Central difference `(L(p + h) − L(p − h)) / 2h` for every element of one parameter.
fn central_differences<D: ndarray::Dimension>(
    parameter: &ndarray::Array<f64, D>,
    loss_at: impl Fn(&ndarray::Array<f64, D>) -> f64,
) -> ndarray::Array<f64, D> {
    const H: f64 = 1e-6;
    let mut gradient = parameter.clone();
    let mut probe = parameter.clone();
    for (index, slot) in gradient.iter_mut().enumerate() {
        let original = *parameter.iter().nth(index).unwrap();
        *probe.iter_mut().nth(index).unwrap() = original + H;
        let up = loss_at(&probe);
        *probe.iter_mut().nth(index).unwrap() = original - H;
        let down = loss_at(&probe);
        *probe.iter_mut().nth(index).unwrap() = original;
        *slot = (up - down) / (2.0 * H);
    }
    gradient
}

fn assert_close<'a>(
    name: &str,
    got: impl IntoIterator<Item = &'a f64>,
    want: impl IntoIterator<Item = &'a f64>,
    tolerance: f64,
) {
    for (index, (&g, &w)) in got.into_iter().zip(want).enumerate() {
        let error = (g - w).abs() / w.abs().max(1.0);
        assert!(
            error <= tolerance,
            "{name}[{index}]: got {g}, want {w} (error {error:e} > {tolerance:e})"
        );
    }
}

fn check_against_finite_differences(shape: (usize, usize, usize), seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = normal_array3(&mut rng, shape);
    // One near-constant row: the ε-dominated regime must differentiate correctly too.
    x.index_axis_mut(Axis(0), 0)
        .index_axis_mut(Axis(0), 0)
        .mapv_inplace(|v| 2.0 + 1e-4 * v);
    let gamma = normal_array1(&mut rng, shape.2);
    let beta = normal_array1(&mut rng, shape.2);
    let dy = normal_array3(&mut rng, shape);

    let (_, cache) = layer_norm_forward(x.view(), gamma.view(), beta.view(), EPS).unwrap();
    let grads = layer_norm_backward(dy.view(), &cache).unwrap();

    let dx_fd = central_differences(&x, |x| loss(x.view(), gamma.view(), beta.view(), dy.view()));
    let dgamma_fd =
        central_differences(&gamma, |g| loss(x.view(), g.view(), beta.view(), dy.view()));
    let dbeta_fd =
        central_differences(&beta, |b| loss(x.view(), gamma.view(), b.view(), dy.view()));

    assert_close("dx", &grads.dx, &dx_fd, 1e-6);
    assert_close("dgamma", &grads.dgamma, &dgamma_fd, 1e-6);
    assert_close("dbeta", &grads.dbeta, &dbeta_fd, 1e-6);
}

#[test]
fn gradients_match_finite_differences() {
    check_against_finite_differences((2, 3, 5), 1);
    check_against_finite_differences((3, 2, 16), 2);
}

#[test]
fn gradients_match_finite_differences_with_single_token() {
    check_against_finite_differences((3, 1, 7), 3);
}

#[test]
fn gradients_match_finite_differences_with_single_feature() {
    // D = 1: every row is constant, so x̂ = 0, y = β and dx = 0.
    check_against_finite_differences((2, 3, 1), 4);
    let x = array![[[3.0], [-1.0]]];
    let (gamma, beta) = (array![2.0], array![0.5]);
    let (y, cache) = layer_norm_forward(x.view(), gamma.view(), beta.view(), EPS).unwrap();
    assert!(y.iter().all(|&v| v == 0.5));
    let grads = layer_norm_backward(array![[[1.0], [4.0]]].view(), &cache).unwrap();
    assert!(grads.dx.iter().all(|&v| v == 0.0));
    assert_eq!(grads.dbeta, array![5.0]);
}

/// `dx = Jᵀ dy` with the D×D Jacobian of one row written out element by element from
/// `∂yᵢ/∂xⱼ = γᵢ r (δᵢⱼ − 1/D − x̂ᵢ x̂ⱼ / D)`, where `x̂` and `r` are recomputed here.
#[test]
fn dx_matches_explicit_row_jacobian() {
    let mut rng = StdRng::seed_from_u64(5);
    let shape = (2, 3, 6);
    let x = normal_array3(&mut rng, shape);
    let gamma = normal_array1(&mut rng, shape.2);
    let beta = normal_array1(&mut rng, shape.2);
    let dy = normal_array3(&mut rng, shape);
    let (_, cache) = layer_norm_forward(x.view(), gamma.view(), beta.view(), EPS).unwrap();
    let grads = layer_norm_backward(dy.view(), &cache).unwrap();

    let d = shape.2;
    for b in 0..shape.0 {
        for t in 0..shape.1 {
            let row: Vec<f64> = (0..d).map(|i| x[[b, t, i]]).collect();
            let mean = row.iter().sum::<f64>() / d as f64;
            let variance = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
            let r = 1.0 / (variance + EPS).sqrt();
            let x_hat: Vec<f64> = row.iter().map(|v| (v - mean) * r).collect();
            for j in 0..d {
                let mut dx_j = 0.0;
                for i in 0..d {
                    let kronecker = if i == j { 1.0 } else { 0.0 };
                    let jacobian_ij = gamma[i]
                        * r
                        * (kronecker - 1.0 / d as f64 - x_hat[i] * x_hat[j] / d as f64);
                    dx_j += jacobian_ij * dy[[b, t, i]];
                }
                let error = (grads.dx[[b, t, j]] - dx_j).abs() / dx_j.abs().max(1.0);
                assert!(
                    error < 1e-12,
                    "dx[{b},{t},{j}] = {}, Jᵀdy = {dx_j}",
                    grads.dx[[b, t, j]]
                );
            }
        }
    }
}

#[test]
fn forward_matches_hand_computed_row() {
    // x = [1, 2, 3]: μ = 2, σ² = 2/3, x̂ = [−√1.5, 0, √1.5] (up to ε = 1e-12).
    let x = array![[[1.0, 2.0, 3.0]]];
    let (gamma, beta) = (array![1.0, 2.0, -1.0], array![0.0, 10.0, 1.0]);
    let (y, cache) = layer_norm_forward(x.view(), gamma.view(), beta.view(), 1e-12).unwrap();
    let s = 1.5_f64.sqrt();
    assert_close("y", &y, &array![[[-s, 10.0, 1.0 - s]]], 1e-10);
    assert_close("inv_std", cache.inv_std(), &array![[s]], 1e-10);
}

#[test]
fn float32_inputs_are_upcast_before_arithmetic() {
    let mut rng = StdRng::seed_from_u64(6);
    let x32 = normal_array3(&mut rng, (2, 2, 9)).mapv(|v| (100.0 + v) as f32);
    let gamma32 = normal_array1(&mut rng, 9).mapv(|v| v as f32);
    let beta32 = normal_array1(&mut rng, 9).mapv(|v| v as f32);
    let dy32 = normal_array3(&mut rng, (2, 2, 9)).mapv(|v| v as f32);
    let upcast = |a: &Array3<f32>| a.mapv(f64::from);

    let (y32, cache32) =
        layer_norm_forward(x32.view(), gamma32.view(), beta32.view(), EPS).unwrap();
    let (y64, cache64) = layer_norm_forward(
        upcast(&x32).view(),
        gamma32.mapv(f64::from).view(),
        beta32.mapv(f64::from).view(),
        EPS,
    )
    .unwrap();
    assert_eq!(y32, y64);
    let grads32 = layer_norm_backward(dy32.view(), &cache32).unwrap();
    let grads64 = layer_norm_backward(upcast(&dy32).view(), &cache64).unwrap();
    assert_eq!(grads32.dx, grads64.dx);
    assert_eq!(grads32.dgamma, grads64.dgamma);
}

#[test]
fn input_gradient_is_orthogonal_to_ones_and_x_hat() {
    // y is invariant to shifting x (so Σ dx = 0) and to scaling x − μ (so Σ dx ⊙ x̂ ≈ 0 up to ε).
    let mut rng = StdRng::seed_from_u64(7);
    let x = normal_array3(&mut rng, (2, 4, 33)).mapv(|v| 3.0 * v);
    let gamma = normal_array1(&mut rng, 33);
    let dy = normal_array3(&mut rng, (2, 4, 33));
    let (_, cache) = layer_norm_forward(x.view(), gamma.view(), gamma.view(), 1e-12).unwrap();
    let grads = layer_norm_backward(dy.view(), &cache).unwrap();
    for (dx_row, x_hat_row) in grads.dx.rows().into_iter().zip(cache.x_hat().rows()) {
        assert!(dx_row.sum().abs() < 1e-12);
        assert!(dx_row.dot(&x_hat_row).abs() < 1e-9);
    }
}

#[test]
fn mismatched_shapes_and_bad_eps_are_errors() {
    let x = Array3::<f64>::ones((2, 3, 4));
    let (d4, d3) = (Array1::<f64>::ones(4), Array1::<f64>::ones(3));
    assert!(matches!(
        layer_norm_forward(x.view(), d3.view(), d4.view(), EPS),
        Err(LayerNormError::ShapeMismatch { name: "gamma", .. })
    ));
    assert!(matches!(
        layer_norm_forward(x.view(), d4.view(), d3.view(), EPS),
        Err(LayerNormError::ShapeMismatch { name: "beta", .. })
    ));
    let empty = Array3::<f64>::zeros((2, 3, 0));
    let none = Array1::<f64>::zeros(0);
    assert_eq!(
        layer_norm_forward(empty.view(), none.view(), none.view(), EPS).unwrap_err(),
        LayerNormError::EmptyFeatureAxis
    );
    for eps in [0.0, -1e-5, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            layer_norm_forward(x.view(), d4.view(), d4.view(), eps),
            Err(LayerNormError::InvalidEps(_))
        ));
    }
    let (_, cache) = layer_norm_forward(x.view(), d4.view(), d4.view(), EPS).unwrap();
    let wrong_dy = Array3::<f64>::ones((2, 4, 3));
    assert!(matches!(
        layer_norm_backward(wrong_dy.view(), &cache),
        Err(LayerNormError::ShapeMismatch { name: "dy", .. })
    ));
}

#[test]
fn reused_buffers_give_the_same_results_as_fresh_ones() {
    let mut rng = StdRng::seed_from_u64(8);
    let (mut y, mut cache, mut grads) = (
        Array3::zeros((0, 0, 0)),
        LayerNormCache::default(),
        LayerNormGrads::default(),
    );
    // Same shape twice (buffers reused: dγ and dβ must restart from zero), then a new shape.
    for shape in [(2, 3, 8), (2, 3, 8), (1, 4, 5)] {
        let x = normal_array3(&mut rng, shape);
        let gamma = normal_array1(&mut rng, shape.2);
        let beta = normal_array1(&mut rng, shape.2);
        let dy = normal_array3(&mut rng, shape);
        layer_norm_forward_into(x.view(), gamma.view(), beta.view(), EPS, &mut y, &mut cache)
            .unwrap();
        layer_norm_backward_into(dy.view(), &cache, &mut grads).unwrap();

        let (fresh_y, fresh_cache) =
            layer_norm_forward(x.view(), gamma.view(), beta.view(), EPS).unwrap();
        let fresh_grads = layer_norm_backward(dy.view(), &fresh_cache).unwrap();
        assert_eq!(y, fresh_y);
        assert_eq!(grads.dx, fresh_grads.dx);
        assert_eq!(grads.dgamma, fresh_grads.dgamma);
        assert_eq!(grads.dbeta, fresh_grads.dbeta);
    }
}
