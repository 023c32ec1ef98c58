//! Fixtures shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use ndarray::{Array4, ArrayView, Dimension};
use ndarray_rand::RandomExt;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand_distr::StandardNormal;

/// Standard-normal (B, H, N, D) array, reproducible from `seed`.
pub fn random(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f64> {
    Array4::random_using(shape, StandardNormal, &mut StdRng::seed_from_u64(seed))
}

/// Q, K, V and dO for one configuration.
pub struct Inputs {
    pub q: Array4<f64>,
    pub k: Array4<f64>,
    pub v: Array4<f64>,
    pub d_o: Array4<f64>,
}

pub fn inputs(shape: (usize, usize, usize, usize), seed: u64) -> Inputs {
    Inputs {
        q: random(shape, seed),
        k: random(shape, seed + 1),
        v: random(shape, seed + 2),
        d_o: random(shape, seed + 3),
    }
}

/// max |got − want| / max |want|: the error relative to the array's scale, so that entries
/// near zero do not dominate it.
pub fn relative_error<D: Dimension>(got: ArrayView<f64, D>, want: ArrayView<f64, D>) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let diff = got
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 { diff } else { diff / scale }
}
