//! LayerNorm backward in closed form, from the forward's cache.

use ndarray::{Array1, Array3, ArrayView3, Ix1, Ix3};

use crate::buffers::{as_slice, reshaped_buffer};
use crate::error::LayerNormError;
use crate::forward::LayerNormCache;
use crate::stats::{lane_dot, lane_sum};

/// Gradients of the loss with respect to the three inputs of the forward.
///
/// `Default` gives empty buffers, to be filled by [`layer_norm_backward_into`].
#[derive(Debug, Clone, Default)]
pub struct LayerNormGrads {
    /// `∂L/∂x`, shape (B, T, D).
    pub dx: Array3<f64>,
    /// `∂L/∂γ = Σ_{b,t} dy ⊙ x̂`, shape (D,).
    pub dgamma: Array1<f64>,
    /// `∂L/∂β = Σ_{b,t} dy`, shape (D,).
    pub dbeta: Array1<f64>,
}

/// Backward of [`crate::layer_norm_forward`] given `dy = ∂L/∂y` (B, T, D).
///
/// Per row, with `g = dy ⊙ γ` and `r = 1/√(σ² + ε)`:
/// `dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂))`. The term `x̂ · mean(g ⊙ x̂)` is the
/// gradient through σ — dropping it is the classic bug (it is only correct if the variance
/// were a constant). `dγ` and `dβ` sum over B and T, never over D.
///
/// # Errors
/// `dy` not of the cached input's shape.
pub fn layer_norm_backward<A: Copy + Into<f64>>(
    dy: ArrayView3<'_, A>,
    cache: &LayerNormCache,
) -> Result<LayerNormGrads, LayerNormError> {
    let mut grads = LayerNormGrads::default();
    layer_norm_backward_into(dy, cache, &mut grads)?;
    Ok(grads)
}

/// [`layer_norm_backward`] writing into `grads`, whose buffers are reused when their shapes
/// already fit (and replaced when they do not).
///
/// # Errors
/// As [`layer_norm_backward`]; on error `grads` is left untouched.
pub fn layer_norm_backward_into<A: Copy + Into<f64>>(
    dy: ArrayView3<'_, A>,
    cache: &LayerNormCache,
    grads: &mut LayerNormGrads,
) -> Result<(), LayerNormError> {
    let [batch, time, features] = cache.shape();
    if dy.dim() != (batch, time, features) {
        let (b, t, d) = dy.dim();
        return Err(LayerNormError::ShapeMismatch {
            name: "dy",
            expected: vec![batch, time, features],
            got: vec![b, t, d],
        });
    }

    let gamma = as_slice(cache.gamma());
    let dy = dy.as_standard_layout();
    let dy_rows = dy
        .as_slice()
        .expect("as_standard_layout yields a contiguous array")
        .chunks_exact(features);
    let x_hat_rows = cache
        .x_hat()
        .as_slice()
        .expect("the cache's x_hat is built contiguous")
        .chunks_exact(features);

    let dx = reshaped_buffer(&mut grads.dx, Ix3(batch, time, features));
    let dgamma = reshaped_buffer(&mut grads.dgamma, Ix1(features));
    let dbeta = reshaped_buffer(&mut grads.dbeta, Ix1(features));
    dgamma.fill(0.0);
    dbeta.fill(0.0);

    for (((dy_row, x_hat_row), dx_row), &inv_std) in dy_rows
        .zip(x_hat_rows)
        .zip(dx.chunks_exact_mut(features))
        .zip(cache.inv_std().iter())
    {
        // dx_row first holds g = dy ⊙ γ, then is overwritten with dx.
        for ((g, &upstream), gamma) in dx_row.iter_mut().zip(dy_row).zip(gamma) {
            *g = upstream.into() * gamma;
        }
        let n = features as f64;
        let mean_g = lane_sum(dx_row, |g| g) / n;
        let mean_g_x_hat = lane_dot(dx_row, x_hat_row) / n;
        for (((dx, &x_hat), &upstream), (dgamma, dbeta)) in dx_row
            .iter_mut()
            .zip(x_hat_row)
            .zip(dy_row)
            .zip(dgamma.iter_mut().zip(dbeta.iter_mut()))
        {
            let upstream = upstream.into();
            *dx = inv_std * (*dx - mean_g - x_hat * mean_g_x_hat);
            *dgamma += upstream * x_hat;
            *dbeta += upstream;
        }
    }
    Ok(())
}
