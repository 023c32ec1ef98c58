//! The traps: a large common offset (where `E[x²] − E[x]²` cancels catastrophically) and
//! near-constant rows (where ε is all that keeps `1/σ` finite).

use layernorm::stats::mean_and_variance;
use layernorm::{layer_norm_backward, layer_norm_forward};
use ndarray::{Array1, Array3, Zip};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const EPS: f64 = 1e-5;
const SHAPE: (usize, usize, usize) = (2, 4, 256);

fn standard_normal(seed: u64) -> Array3<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    Array3::from_shape_simple_fn(SHAPE, || rng.sample(StandardNormal))
}

fn max_abs_difference(a: &Array3<f64>, b: &Array3<f64>) -> f64 {
    Zip::from(a)
        .and(b)
        .fold(0.0, |worst: f64, &p, &q| worst.max((p - q).abs()))
}

/// `x̂` computed the way the trap suggests: one pass, `σ² = E[x²] − E[x]²`, in the element
/// type `T` of the input (f64 or f32), then widened for comparison.
fn one_pass_x_hat<T>(x: &Array3<T>) -> Array3<f64>
where
    T: num_like::Float,
{
    let mut x_hat = Array3::zeros(x.dim());
    for (row, mut out) in x.rows().into_iter().zip(x_hat.rows_mut()) {
        let n = T::from_f64(row.len() as f64);
        let mean = row.iter().fold(T::zero(), |s, &v| s + v) / n;
        let mean_of_squares = row.iter().fold(T::zero(), |s, &v| s + v * v) / n;
        let variance = mean_of_squares - mean * mean;
        let inv_std = T::one() / (variance + T::from_f64(EPS)).sqrt();
        for (o, &v) in out.iter_mut().zip(row) {
            *o = ((v - mean) * inv_std).to_f64();
        }
    }
    x_hat
}

/// Just enough of a float abstraction for [`one_pass_x_hat`] to run in f32 or f64.
mod num_like {
    use std::ops::{Add, Div, Mul, Sub};

    pub trait Float:
        Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
    {
        fn zero() -> Self;
        fn one() -> Self;
        fn from_f64(v: f64) -> Self;
        fn to_f64(self) -> f64;
        fn sqrt(self) -> Self;
    }

    macro_rules! impl_float {
        ($t:ty) => {
            impl Float for $t {
                fn zero() -> Self {
                    0.0
                }
                fn one() -> Self {
                    1.0
                }
                fn from_f64(v: f64) -> Self {
                    v as $t
                }
                fn to_f64(self) -> f64 {
                    self as f64
                }
                fn sqrt(self) -> Self {
                    <$t>::sqrt(self)
                }
            }
        };
    }
    impl_float!(f32);
    impl_float!(f64);
}

/// LayerNorm is shift-invariant, and `x − offset` is exact in floating point here (Sterbenz:
/// `x` lies within a factor 2 of `offset`), so the forward of the small numbers `x − offset`
/// is an accurate, independent ground truth for the forward of `x`.
fn x_hat_of_shifted(x: &Array3<f64>, offset: f64) -> Array3<f64> {
    let shifted = x.mapv(|v| v - offset);
    let ones = Array1::ones(SHAPE.2);
    let zeros = Array1::zeros(SHAPE.2);
    let (y, _) = layer_norm_forward(shifted.view(), ones.view(), zeros.view(), EPS).unwrap();
    y
}

fn forward_x_hat<A: Copy + Into<f64>>(x: &Array3<A>) -> Array3<f64> {
    let ones = Array1::<f64>::ones(SHAPE.2);
    let zeros = Array1::<f64>::zeros(SHAPE.2);
    let x = x.mapv(Into::into);
    let (y, _) = layer_norm_forward(x.view(), ones.view(), zeros.view(), EPS).unwrap();
    y
}

#[test]
fn two_pass_variance_survives_a_large_offset_that_breaks_one_pass() {
    for (offset, two_pass_bound, one_pass_at_least) in [(1e4, 1e-10, 1e-9), (1e8, 1e-6, 1e-1)] {
        let x = standard_normal(11).mapv(|z| offset + z);
        let truth = x_hat_of_shifted(&x, offset);

        let two_pass_error = max_abs_difference(&forward_x_hat(&x), &truth);
        let one_pass = one_pass_x_hat(&x);
        let one_pass_error = if one_pass.iter().all(|v| v.is_finite()) {
            max_abs_difference(&one_pass, &truth)
        } else {
            f64::INFINITY
        };
        println!("offset {offset:e}: two-pass {two_pass_error:e}, one-pass {one_pass_error:e}");
        assert!(
            two_pass_error < two_pass_bound,
            "two-pass error {two_pass_error:e}"
        );
        assert!(
            one_pass_error > one_pass_at_least,
            "one-pass error {one_pass_error:e}"
        );
        assert!(one_pass_error > 100.0 * two_pass_error);

        let shifted = x.mapv(|v| v - offset);
        for (row, shifted_row) in x.rows().into_iter().zip(shifted.rows()) {
            let (_, variance) = mean_and_variance(row.as_slice().unwrap());
            let (_, true_variance) = mean_and_variance(shifted_row.as_slice().unwrap());
            assert!(((variance - true_variance) / true_variance).abs() < 1e-9);
        }
    }
}

#[test]
fn float32_input_with_offset_is_accurate_where_float32_one_pass_is_garbage() {
    let x32 = standard_normal(12).mapv(|z| (1e4 + z) as f32);
    let x64 = x32.mapv(f64::from);
    let truth = x_hat_of_shifted(&x64, 1e4);

    let two_pass_error = max_abs_difference(&forward_x_hat(&x32), &truth);
    let one_pass = one_pass_x_hat(&x32);
    let one_pass_error = if one_pass.iter().all(|v| v.is_finite()) {
        max_abs_difference(&one_pass, &truth)
    } else {
        f64::INFINITY
    };
    println!("f32, offset 1e4: two-pass {two_pass_error:e}, one-pass in f32 {one_pass_error:e}");
    assert!(two_pass_error < 1e-10);
    assert!(one_pass_error > 0.1);
}

#[test]
fn constant_and_near_constant_rows_stay_finite() {
    let noise = standard_normal(13);
    let mut x = Array3::from_elem(SHAPE, 1e4);
    for (b, scale) in [(0, 0.0), (1, 1e-12)] {
        let noisy_row = &noise.slice(ndarray::s![b, .., ..]) * scale;
        x.slice_mut(ndarray::s![b, .., ..])
            .scaled_add(1.0, &noisy_row);
    }
    let mut rng = StdRng::seed_from_u64(14);
    let gamma = Array1::from_shape_simple_fn(SHAPE.2, || rng.sample::<f64, _>(StandardNormal));
    let beta = Array1::from_shape_simple_fn(SHAPE.2, || rng.sample::<f64, _>(StandardNormal));
    let dy = standard_normal(15);

    let (y, cache) = layer_norm_forward(x.view(), gamma.view(), beta.view(), EPS).unwrap();
    let grads = layer_norm_backward(dy.view(), &cache).unwrap();
    for (name, values) in [("y", &y), ("dx", &grads.dx)] {
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{name} has a non-finite entry"
        );
    }
    assert!(
        grads
            .dgamma
            .iter()
            .chain(&grads.dbeta)
            .all(|v| v.is_finite())
    );
    // ε caps the inverse std at 1/√ε; an exactly constant row has x̂ = 0 and y = β.
    assert!(cache.inv_std().iter().all(|&r| r <= 1.0 / EPS.sqrt()));
    for row in y.slice(ndarray::s![0, .., ..]).rows() {
        assert_eq!(row, beta);
    }
}
