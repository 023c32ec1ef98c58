//! LayerNorm forward, keeping what the backward needs.

use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView3, Ix2, Ix3};

use crate::buffers::{as_slice, reshaped_buffer};
use crate::error::LayerNormError;
use crate::stats::mean_and_variance;

/// What the backward pass reuses from the forward pass, so it recomputes no statistics.
///
/// `Default` gives an empty cache, to be filled by [`layer_norm_forward_into`].
#[derive(Debug, Clone, Default)]
pub struct LayerNormCache {
    /// `x̂ = (x − μ) · r`, shape (B, T, D).
    x_hat: Array3<f64>,
    /// `r = 1/√(σ² + ε)` per row, shape (B, T).
    inv_std: Array2<f64>,
    /// `γ` upcast to f64, shape (D,): the backward needs `g = dy ⊙ γ`.
    gamma: Array1<f64>,
}

impl LayerNormCache {
    /// Normalised input `x̂`, shape (B, T, D).
    pub fn x_hat(&self) -> &Array3<f64> {
        &self.x_hat
    }

    /// Inverse standard deviation `1/√(σ² + ε)` per row, shape (B, T).
    pub fn inv_std(&self) -> &Array2<f64> {
        &self.inv_std
    }

    /// The scale `γ`, shape (D,).
    pub fn gamma(&self) -> &Array1<f64> {
        &self.gamma
    }

    /// Shape (B, T, D) of the input this cache was built from.
    pub fn shape(&self) -> [usize; 3] {
        let (b, t, d) = self.x_hat.dim();
        [b, t, d]
    }
}

/// `y = γ ⊙ (x − μ)/√(σ² + ε) + β` over the last axis of `x` (B, T, D); returns `y` and the
/// [`LayerNormCache`] for [`crate::layer_norm_backward`].
///
/// Generic over the input element type so f32 and f64 share one path: every element is upcast
/// to f64 before any arithmetic. The variance is two-pass ([`mean_and_variance`]).
///
/// # Errors
/// `gamma` or `beta` not of shape (D,), D = 0, or `eps` not finite and positive.
pub fn layer_norm_forward<A: Copy + Into<f64>>(
    x: ArrayView3<'_, A>,
    gamma: ArrayView1<'_, A>,
    beta: ArrayView1<'_, A>,
    eps: f64,
) -> Result<(Array3<f64>, LayerNormCache), LayerNormError> {
    let mut y = Array3::default((0, 0, 0));
    let mut cache = LayerNormCache::default();
    layer_norm_forward_into(x, gamma, beta, eps, &mut y, &mut cache)?;
    Ok((y, cache))
}

/// [`layer_norm_forward`] writing into `y` and `cache`, whose buffers are reused when their
/// shapes already fit (and replaced when they do not), so a loop allocates nothing.
///
/// # Errors
/// As [`layer_norm_forward`]; on error `y` and `cache` are left untouched.
pub fn layer_norm_forward_into<A: Copy + Into<f64>>(
    x: ArrayView3<'_, A>,
    gamma: ArrayView1<'_, A>,
    beta: ArrayView1<'_, A>,
    eps: f64,
    y: &mut Array3<f64>,
    cache: &mut LayerNormCache,
) -> Result<(), LayerNormError> {
    let (batch, time, features) = x.dim();
    check_feature_vector("gamma", gamma, features)?;
    check_feature_vector("beta", beta, features)?;
    if features == 0 {
        return Err(LayerNormError::EmptyFeatureAxis);
    }
    if !(eps.is_finite() && eps > 0.0) {
        return Err(LayerNormError::InvalidEps(eps));
    }

    cache.gamma = gamma.mapv(Into::into);
    let beta: Array1<f64> = beta.mapv(Into::into);
    let (gamma_row, beta_row) = (as_slice(&cache.gamma), as_slice(&beta));

    let x = x.as_standard_layout();
    let x_rows = x
        .as_slice()
        .expect("as_standard_layout yields a contiguous array")
        .chunks_exact(features);
    let shape = Ix3(batch, time, features);
    let y = reshaped_buffer(y, shape);
    let x_hat = reshaped_buffer(&mut cache.x_hat, shape);
    let inv_std = reshaped_buffer(&mut cache.inv_std, Ix2(batch, time));

    for (((x_row, y_row), x_hat_row), row_inv_std) in x_rows
        .zip(y.chunks_exact_mut(features))
        .zip(x_hat.chunks_exact_mut(features))
        .zip(inv_std.iter_mut())
    {
        // Upcast once into the x̂ buffer, then normalise it in place.
        for (widened, &value) in x_hat_row.iter_mut().zip(x_row) {
            *widened = value.into();
        }
        let (mean, variance) = mean_and_variance(x_hat_row);
        *row_inv_std = 1.0 / (variance + eps).sqrt();
        for (((normalised, y), g), b) in (x_hat_row.iter_mut().zip(y_row))
            .zip(gamma_row)
            .zip(beta_row)
        {
            *normalised = (*normalised - mean) * *row_inv_std;
            *y = g * *normalised + b;
        }
    }
    Ok(())
}

fn check_feature_vector<A>(
    name: &'static str,
    vector: ArrayView1<'_, A>,
    features: usize,
) -> Result<(), LayerNormError> {
    if vector.len() == features {
        Ok(())
    } else {
        Err(LayerNormError::ShapeMismatch {
            name,
            expected: vec![features],
            got: vec![vector.len()],
        })
    }
}
