//! AdamW with decoupled weight decay, the warm-up + cosine learning-rate schedule, and global
//! gradient-norm clipping.

use ndarray::Zip;
use serde::{Deserialize, Serialize};

use crate::model::{ModelConfig, ModelWeights, TensorKind};

/// Linear warm-up from `peak / warmup` to `peak` over `warmup_steps`, then cosine decay to
/// `min` at `total_steps`:
///
/// ```text
/// lr(t) = peak·(t+1)/W                                   t < W
/// lr(t) = min + ½(peak − min)(1 + cos(π·(t − W)/(T − W)))  t ≥ W
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Learning rate at the end of warm-up.
    pub peak: f32,
    /// Learning rate at `total_steps` and after.
    pub min: f32,
    /// W, steps of linear warm-up.
    pub warmup_steps: usize,
    /// T, the step at which the cosine reaches `min`.
    pub total_steps: usize,
}

impl LrSchedule {
    /// The learning rate of step `t` (0-based).
    pub fn at(&self, step: usize) -> f32 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f32 / self.warmup_steps as f32;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f32 / decay_steps as f32).min(1.0);
        self.min + 0.5 * (self.peak - self.min) * (1.0 + (std::f32::consts::PI * progress).cos())
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm`; returns the norm before.
pub fn clip_global_norm(grads: &mut ModelWeights, max_norm: f32) -> f64 {
    let norm = crate::model::global_norm(grads);
    if norm > f64::from(max_norm) {
        grads.scale((f64::from(max_norm) / norm) as f32);
    }
    norm
}

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// β₁, decay of the first-moment (mean) estimate.
    pub beta1: f32,
    /// β₂, decay of the second-moment (uncentred variance) estimate.
    pub beta2: f32,
    /// ε added to `sqrt(v̂)`, so tiny gradients do not divide by ~0.
    pub eps: f32,
    /// Decoupled decay rate, applied to the latent ternary weights only (norm gains are not
    /// decayed, as usual for gains).
    pub weight_decay: f32,
}

/// AdamW (Loshchilov & Hutter): with `m̂ = m/(1 − β₁ᵗ)`, `v̂ = v/(1 − β₂ᵗ)`,
///
/// ```text
/// w ← w − lr·λ·w − lr·m̂ / (sqrt(v̂) + ε)
/// ```
///
/// The decay is decoupled from the gradient (not added to it), so Adam's normalisation does not
/// rescale it.
#[derive(Debug, Clone)]
pub struct AdamW {
    config: AdamWConfig,
    first_moment: ModelWeights,
    second_moment: ModelWeights,
    steps_taken: i32,
}

impl AdamW {
    /// An optimizer for a model of shape `model`, moments zero and no step taken.
    pub fn new(model: &ModelConfig, config: AdamWConfig) -> Self {
        Self {
            config,
            first_moment: ModelWeights::zeros(model),
            second_moment: ModelWeights::zeros(model),
            steps_taken: 0,
        }
    }

    /// One update of the latent `params` with the gradients of the projected weights (the
    /// straight-through estimator: they are used as the latent gradients).
    pub fn step(&mut self, params: &mut ModelWeights, grads: &ModelWeights, lr: f32) {
        self.steps_taken += 1;
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        let bias1 = 1.0 - beta1.powi(self.steps_taken);
        let bias2 = 1.0 - beta2.powi(self.steps_taken);
        let tensors = params
            .tensors_mut()
            .into_iter()
            .zip(self.first_moment.tensors_mut())
            .zip(self.second_moment.tensors_mut())
            .zip(grads.tensors());
        for (((param, m), v), g) in tensors {
            let decay = match param.kind {
                TensorKind::Ternary => weight_decay,
                TensorKind::Norm => 0.0,
            };
            Zip::from(param.value)
                .and(m.value)
                .and(v.value)
                .and(&g.value)
                .for_each(|w, m, v, &g| {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    let update = (*m / bias1) / ((*v / bias2).sqrt() + eps);
                    *w -= lr * (decay * *w + update);
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_min() {
        let s = LrSchedule {
            peak: 1.0,
            min: 0.1,
            warmup_steps: 10,
            total_steps: 110,
        };
        assert!((s.at(0) - 0.1).abs() < 1e-6);
        assert!((s.at(9) - 1.0).abs() < 1e-6);
        assert!((s.at(10) - 1.0).abs() < 1e-6);
        assert!((s.at(60) - 0.55).abs() < 1e-6, "half way down the cosine");
        assert!((s.at(110) - 0.1).abs() < 1e-6);
        assert!((s.at(500) - 0.1).abs() < 1e-6);
        for t in 10..110 {
            assert!(s.at(t + 1) <= s.at(t));
        }
    }

    fn one_weight_config() -> ModelConfig {
        ModelConfig {
            vocab_size: 1,
            d_model: 2,
            n_layers: 0,
            n_heads: 2,
            n_kv_heads: 1,
            head_dim: 2,
            ffn_dim: 1,
            max_seq_len: 1,
            rope_theta: 10.0,
            norm_eps: 1e-6,
            group_size: 128,
        }
    }

    #[test]
    fn adamw_first_step_and_decoupled_decay() {
        let config = one_weight_config();
        let mut params = ModelWeights::zeros(&config);
        params.embed_tokens.fill(2.0);
        params.norm.fill(2.0);
        let mut grads = ModelWeights::zeros(&config);
        grads.embed_tokens.fill(0.5);
        grads.norm.fill(-3.0);
        let mut adam = AdamW::new(
            &config,
            AdamWConfig {
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-8,
                weight_decay: 0.1,
            },
        );
        adam.step(&mut params, &grads, 0.01);
        // First step: m̂ = g, v̂ = g², update = sign(g). Ternary weight: 2 − 0.01·(0.1·2 + 1).
        assert!((params.embed_tokens[[0, 0]] - (2.0 - 0.01 * 1.2)).abs() < 1e-6);
        // Norm gain: no decay, 2 + 0.01.
        assert!((params.norm[0] - 2.01).abs() < 1e-6);
        // With zero gradient only the decay acts on the ternary weight, and never on the gain.
        let before = params.clone();
        let zero = ModelWeights::zeros(&config);
        let mut pure_decay = AdamW::new(&config, adam.config);
        pure_decay.step(&mut params, &zero, 0.01);
        assert!(
            (params.embed_tokens[[0, 1]] - before.embed_tokens[[0, 1]] * (1.0 - 0.001)).abs()
                < 1e-6
        );
        assert_eq!(params.norm, before.norm);
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let config = one_weight_config();
        let mut grads = ModelWeights::zeros(&config);
        grads.embed_tokens.fill(3.0);
        grads.norm.fill(4.0);
        // ‖g‖ = sqrt(2·9 + 2·16) = sqrt(50).
        let norm = clip_global_norm(&mut grads, 1.0);
        assert!((norm - 50f64.sqrt()).abs() < 1e-9);
        assert!((crate::model::global_norm(&grads) - 1.0).abs() < 1e-6);
        let again = clip_global_norm(&mut grads, 5.0);
        assert!(
            (again - 1.0).abs() < 1e-6,
            "a norm under the bound is left alone"
        );
    }
}
