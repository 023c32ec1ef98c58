//! The Qwen3-style decoder with ternary linear maps, and its hand-written backward pass.
//!
//! ```text
//! h₀ = Ê[tokens]                                       (ternary embedding)
//! for each block:
//!     a  = RMSNorm(h; g_in)
//!     q  = RoPE(RMSNorm_head(a·Ŵqᵀ; g_q)),  k = RoPE(RMSNorm_head(a·Ŵkᵀ; g_k)),  v = a·Ŵvᵀ
//!     h  = h + Attention_GQA,causal(q, k, v)·Ŵoᵀ
//!     m  = RMSNorm(h; g_post)
//!     h  = h + (silu(m·Ŵgateᵀ) ⊙ m·Ŵupᵀ)·Ŵdownᵀ
//! logits = RMSNorm(h; g_final)·Ŵheadᵀ                  (ternary LM head, not tied)
//! ```
//!
//! No biases. Every `Ŵ` (embedding and LM head included) is the ternary projection of a latent
//! f32 matrix ([`crate::quant`]); the RMSNorm gains stay f32. The forward and backward passes take
//! the weights they run with as an argument: the trainer passes `latent.project()`, and the
//! gradients they return are with respect to those projected weights, which the straight-through
//! estimator hands to the latent weights unchanged.
//!
//! The LM head is a separate matrix (Qwen3-8B, the base of Ternary Bonsai 8B, does not tie it),
//! so the embedding and the head are two ternary layers a grader can check one by one.

mod config;
mod forward;
mod weights;

pub use config::ModelConfig;
pub use forward::Qwen3Model;
pub use weights::{
    BlockWeights, EMBED_TOKENS, FINAL_NORM, LM_HEAD, ModelWeights, NamedTensor, NamedTensorMut,
    TensorKind, global_norm,
};

#[cfg(test)]
mod tests {
    use super::weights::BLOCK_TENSORS;
    use super::*;
    use crate::quant;
    use ndarray::{Array2, ArrayView2, Axis};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// Rows of sequence `b` in a `[batch·seq_len, ..]` activation.
    fn rows_of_sequence(x: ArrayView2<f32>, seq_len: usize, b: usize) -> ArrayView2<f32> {
        x.slice_move(ndarray::s![b * seq_len..(b + 1) * seq_len, ..])
    }

    fn tiny_config() -> ModelConfig {
        ModelConfig {
            vocab_size: 11,
            d_model: 8,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 4,
            ffn_dim: 12,
            max_seq_len: 5,
            rope_theta: 100.0,
            norm_eps: 1e-6,
            group_size: 16,
        }
    }

    fn tokens(rng: &mut StdRng, batch: usize, seq_len: usize, vocab: usize) -> Array2<usize> {
        Array2::from_shape_simple_fn((batch, seq_len), || rng.random_range(0..vocab))
    }

    /// The gradient of the whole model with respect to every tensor (projected weights and norm
    /// gains) agrees with central differences of the loss, on a sample of entries of each.
    #[test]
    fn whole_model_gradient_matches_finite_differences() {
        let config = tiny_config();
        let model = Qwen3Model::new(config.clone()).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let latent = ModelWeights::init(&config, &mut rng).unwrap();
        let mut weights = latent.project(config.group_size).unwrap();
        // Non-trivial norm gains so their gradients are exercised away from 1.
        for tensor in weights.tensors_mut() {
            if tensor.kind == TensorKind::Norm {
                let mut value = tensor.value;
                value
                    .iter_mut()
                    .for_each(|g| *g = rng.random_range(0.5..1.5));
            }
        }
        let inputs = tokens(&mut rng, 2, 5, config.vocab_size);
        let targets = tokens(&mut rng, 2, 5, config.vocab_size);
        let (_, grads) = model
            .loss_and_gradients(&weights, inputs.view(), targets.view())
            .unwrap();

        let names: Vec<String> = weights.tensors().iter().map(|t| t.name.clone()).collect();
        for (index, name) in names.iter().enumerate() {
            let n = weights.tensors()[index].value.len();
            for _ in 0..4 {
                let entry = rng.random_range(0..n);
                let analytic = f64::from(
                    grads.tensors()[index]
                        .value
                        .iter()
                        .nth(entry)
                        .copied()
                        .unwrap(),
                );
                let step = 1e-2f32;
                let loss_at = |delta: f32| {
                    let mut probe = weights.clone();
                    let mut tensors = probe.tensors_mut();
                    *tensors[index].value.iter_mut().nth(entry).unwrap() += delta;
                    drop(tensors);
                    model
                        .loss_and_gradients(&probe, inputs.view(), targets.view())
                        .unwrap()
                        .0
                };
                let numeric = (loss_at(step) - loss_at(-step)) / (2.0 * f64::from(step));
                assert!(
                    (numeric - analytic).abs() <= 1e-3 + 2e-2 * numeric.abs(),
                    "{name}[{entry}]: analytic {analytic}, finite difference {numeric}"
                );
            }
        }
    }

    #[test]
    fn tensors_are_named_like_qwen3_and_linear_maps_are_ternary() {
        let config = tiny_config();
        let weights = ModelWeights::zeros(&config);
        let tensors = weights.tensors();
        assert_eq!(tensors.len(), 3 + BLOCK_TENSORS * config.n_layers);
        let ternary: Vec<&str> = tensors
            .iter()
            .filter(|t| t.kind == TensorKind::Ternary)
            .map(|t| t.name.as_str())
            .collect();
        assert!(ternary.contains(&EMBED_TOKENS) && ternary.contains(&LM_HEAD));
        assert!(ternary.contains(&"model.layers.1.mlp.down_proj.weight"));
        assert_eq!(ternary.len(), 2 + 7 * config.n_layers);
        let params: usize = tensors.iter().map(|t| t.value.len()).sum();
        assert_eq!(params, config.n_parameters());
        let shapes: Vec<Vec<usize>> = tensors.iter().map(|t| t.value.shape().to_vec()).collect();
        assert_eq!(shapes, config.tensor_shapes());
    }

    #[test]
    fn projected_weights_are_ternary() {
        let config = tiny_config();
        let latent = ModelWeights::init(&config, &mut StdRng::seed_from_u64(1)).unwrap();
        let projected = latent.project(config.group_size).unwrap();
        for (l, p) in latent.tensors().iter().zip(projected.tensors()) {
            match l.kind {
                TensorKind::Norm => assert_eq!(l.value, p.value),
                TensorKind::Ternary => {
                    quant::verify_projected(p.value.as_slice().unwrap(), config.group_size)
                        .unwrap();
                }
            }
        }
    }

    #[test]
    fn causal_model_ignores_future_tokens() {
        let config = tiny_config();
        let model = Qwen3Model::new(config.clone()).unwrap();
        let mut rng = StdRng::seed_from_u64(2);
        let weights = ModelWeights::init(&config, &mut rng)
            .unwrap()
            .project(config.group_size)
            .unwrap();
        let a = tokens(&mut rng, 1, 5, config.vocab_size);
        let mut b = a.clone();
        b[[0, 4]] = (a[[0, 4]] + 1) % config.vocab_size;
        let la = model.logits(&weights, a.view()).unwrap();
        let lb = model.logits(&weights, b.view()).unwrap();
        assert_eq!(
            la.slice(ndarray::s![..4, ..]),
            lb.slice(ndarray::s![..4, ..])
        );
        assert_ne!(la.row(4), lb.row(4));
        // Each sequence of a batch is independent of the others.
        let batch = ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap();
        let lab = model.logits(&weights, batch.view()).unwrap();
        let diff = (&rows_of_sequence(lab.view(), 5, 1) - &lb).mapv(f32::abs);
        assert!(diff.iter().all(|&d| d < 1e-5));
    }

    #[test]
    fn bad_tokens_are_errors() {
        let config = tiny_config();
        let model = Qwen3Model::new(config.clone()).unwrap();
        let weights = ModelWeights::zeros(&config);
        assert!(
            model
                .logits(&weights, Array2::from_elem((1, 3), 11).view())
                .is_err()
        );
        assert!(
            model
                .logits(&weights, Array2::zeros((1, 6)).view())
                .is_err()
        );
        let wrong = ModelWeights::zeros(&ModelConfig {
            d_model: 16,
            ..config
        });
        assert!(model.logits(&wrong, Array2::zeros((1, 2)).view()).is_err());
        assert!(
            Qwen3Model::new(ModelConfig {
                n_kv_heads: 3,
                ..tiny_config()
            })
            .is_err()
        );
    }
}
