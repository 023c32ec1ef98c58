//! The model's tensors (latent weights, projected weights and gradients share one type), named
//! as Hugging Face Qwen3 names them, and the ternary projection of all of them.

use ndarray::{Array1, Array2, ArrayViewD, ArrayViewMutD};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::TernaryError;
use crate::quant::{self};

use super::ModelConfig;

/// Whether a tensor is a ternary linear map or an f32 norm gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TensorKind {
    /// Latent weights projected to ternary in the forward pass.
    Ternary,
    /// RMSNorm gain, kept in f32.
    Norm,
}

/// A tensor with its Hugging Face Qwen3 name.
#[derive(Debug)]
pub struct NamedTensor<'a> {
    /// Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// Ternary linear map or norm gain.
    pub kind: TensorKind,
    /// The tensor itself.
    pub value: ArrayViewD<'a, f32>,
}

/// Mutable counterpart of [`NamedTensor`].
#[derive(Debug)]
pub struct NamedTensorMut<'a> {
    /// Hugging Face name.
    pub name: String,
    /// Ternary linear map or norm gain.
    pub kind: TensorKind,
    /// The tensor itself, writable.
    pub value: ArrayViewMutD<'a, f32>,
}

/// A block's tensors with their Hugging Face names and kinds, in the one fixed order; `$view`
/// is `view` or `view_mut`, so [`BlockWeights::fields`] and its mutable twin share this list.
macro_rules! block_tensors {
    ($block:expr, $view:ident) => {{
        use TensorKind::{Norm, Ternary};
        [
            (
                "input_layernorm.weight",
                Norm,
                $block.input_layernorm.$view().into_dyn(),
            ),
            (
                "self_attn.q_proj.weight",
                Ternary,
                $block.q_proj.$view().into_dyn(),
            ),
            (
                "self_attn.k_proj.weight",
                Ternary,
                $block.k_proj.$view().into_dyn(),
            ),
            (
                "self_attn.v_proj.weight",
                Ternary,
                $block.v_proj.$view().into_dyn(),
            ),
            (
                "self_attn.o_proj.weight",
                Ternary,
                $block.o_proj.$view().into_dyn(),
            ),
            (
                "self_attn.q_norm.weight",
                Norm,
                $block.q_norm.$view().into_dyn(),
            ),
            (
                "self_attn.k_norm.weight",
                Norm,
                $block.k_norm.$view().into_dyn(),
            ),
            (
                "post_attention_layernorm.weight",
                Norm,
                $block.post_attention_layernorm.$view().into_dyn(),
            ),
            (
                "mlp.gate_proj.weight",
                Ternary,
                $block.gate_proj.$view().into_dyn(),
            ),
            (
                "mlp.up_proj.weight",
                Ternary,
                $block.up_proj.$view().into_dyn(),
            ),
            (
                "mlp.down_proj.weight",
                Ternary,
                $block.down_proj.$view().into_dyn(),
            ),
        ]
    }};
}

/// Every tensor of the model as `$named` (NamedTensor or NamedTensorMut): the embedding, each
/// block's tensors (named `model.layers.{i}.…`), the final norm and the LM head.
macro_rules! model_tensors {
    ($weights:expr, $named:ident, $view:ident, $layers:ident, $fields:ident) => {{
        let mut out = vec![$named {
            name: EMBED_TOKENS.to_string(),
            kind: TensorKind::Ternary,
            value: $weights.embed_tokens.$view().into_dyn(),
        }];
        for (i, block) in $weights.layers.$layers().enumerate() {
            out.extend(
                block
                    .$fields()
                    .into_iter()
                    .map(|(suffix, kind, value)| $named {
                        name: format!("model.layers.{i}.{suffix}"),
                        kind,
                        value,
                    }),
            );
        }
        out.push($named {
            name: FINAL_NORM.to_string(),
            kind: TensorKind::Norm,
            value: $weights.norm.$view().into_dyn(),
        });
        out.push($named {
            name: LM_HEAD.to_string(),
            kind: TensorKind::Ternary,
            value: $weights.lm_head.$view().into_dyn(),
        });
        out
    }};
}

/// Parameters of one decoder block (`[out, in]` matrices).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockWeights {
    /// RMSNorm gain before attention, `[d_model]`.
    pub input_layernorm: Array1<f32>,
    /// Query projection, `[n_heads · head_dim, d_model]`.
    pub q_proj: Array2<f32>,
    /// Key projection, `[n_kv_heads · head_dim, d_model]`.
    pub k_proj: Array2<f32>,
    /// Value projection, `[n_kv_heads · head_dim, d_model]`.
    pub v_proj: Array2<f32>,
    /// Output projection, `[d_model, n_heads · head_dim]`.
    pub o_proj: Array2<f32>,
    /// Per-head RMSNorm gain on queries (before RoPE), `[head_dim]`.
    pub q_norm: Array1<f32>,
    /// Per-head RMSNorm gain on keys (before RoPE), `[head_dim]`.
    pub k_norm: Array1<f32>,
    /// RMSNorm gain before the MLP, `[d_model]`.
    pub post_attention_layernorm: Array1<f32>,
    /// SwiGLU gate, `[ffn_dim, d_model]`: `down(silu(gate·x) ⊙ up·x)`.
    pub gate_proj: Array2<f32>,
    /// SwiGLU up projection, `[ffn_dim, d_model]`.
    pub up_proj: Array2<f32>,
    /// SwiGLU down projection, `[d_model, ffn_dim]`.
    pub down_proj: Array2<f32>,
}

/// Number of tensors of a block.
pub(super) const BLOCK_TENSORS: usize = 11;

impl BlockWeights {
    fn zeros(c: &ModelConfig) -> Self {
        let (d, q, kv) = (c.d_model, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        Self {
            input_layernorm: Array1::zeros(d),
            q_proj: Array2::zeros((q, d)),
            k_proj: Array2::zeros((kv, d)),
            v_proj: Array2::zeros((kv, d)),
            o_proj: Array2::zeros((d, q)),
            q_norm: Array1::zeros(c.head_dim),
            k_norm: Array1::zeros(c.head_dim),
            post_attention_layernorm: Array1::zeros(d),
            gate_proj: Array2::zeros((c.ffn_dim, d)),
            up_proj: Array2::zeros((c.ffn_dim, d)),
            down_proj: Array2::zeros((d, c.ffn_dim)),
        }
    }

    fn fields(&self) -> [(&'static str, TensorKind, ArrayViewD<'_, f32>); BLOCK_TENSORS] {
        block_tensors!(self, view)
    }

    fn fields_mut(
        &mut self,
    ) -> [(&'static str, TensorKind, ArrayViewMutD<'_, f32>); BLOCK_TENSORS] {
        block_tensors!(self, view_mut)
    }
}

/// All parameters of the model. The same type holds latent weights, projected weights and
/// gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelWeights {
    /// `[vocab, d_model]`.
    pub embed_tokens: Array2<f32>,
    /// The decoder blocks, `n_layers` of them.
    pub layers: Vec<BlockWeights>,
    /// Final RMSNorm gain.
    pub norm: Array1<f32>,
    /// `[vocab, d_model]`.
    pub lm_head: Array2<f32>,
}

impl ModelWeights {
    /// All-zero tensors of the configuration's shapes (gradient and optimizer-moment buffers).
    pub fn zeros(config: &ModelConfig) -> Self {
        Self {
            embed_tokens: Array2::zeros((config.vocab_size, config.d_model)),
            layers: (0..config.n_layers)
                .map(|_| BlockWeights::zeros(config))
                .collect(),
            norm: Array1::zeros(config.d_model),
            lm_head: Array2::zeros((config.vocab_size, config.d_model)),
        }
    }

    /// BitNet-style initialisation: every latent matrix `W[out, in] ~ N(0, 1/in)` (std
    /// `fan_in^−1/2`), norm gains 1. The embedding's input is a one-hot vector — one active input
    /// — so its fan-in is 1 and its rows are N(0, 1): the residual stream starts at unit scale.
    /// The projection is applied from step 0 on.
    pub fn init(config: &ModelConfig, rng: &mut impl Rng) -> Result<Self, TernaryError> {
        config.validate()?;
        let mut weights = Self::zeros(config);
        for tensor in weights.tensors_mut() {
            let mut value = tensor.value;
            match tensor.kind {
                TensorKind::Norm => value.fill(1.0),
                TensorKind::Ternary => {
                    let fan_in = if tensor.name == EMBED_TOKENS {
                        1
                    } else {
                        value.shape()[1]
                    };
                    let normal = Normal::new(0.0, (fan_in as f32).powf(-0.5))
                        .expect("a positive standard deviation is a valid normal");
                    value.iter_mut().for_each(|w| *w = normal.sample(rng));
                }
            }
        }
        Ok(weights)
    }

    /// Every tensor with its name, in a fixed order.
    pub fn tensors(&self) -> Vec<NamedTensor<'_>> {
        model_tensors!(self, NamedTensor, view, iter, fields)
    }

    /// Mutable view of every tensor, same order as [`Self::tensors`].
    pub fn tensors_mut(&mut self) -> Vec<NamedTensorMut<'_>> {
        model_tensors!(self, NamedTensorMut, view_mut, iter_mut, fields_mut)
    }

    /// Writes the forward-pass weights into `projected`: the ternary projection of every ternary
    /// tensor, the norm gains copied.
    pub fn project_into(
        &self,
        group_size: usize,
        projected: &mut ModelWeights,
    ) -> Result<(), TernaryError> {
        let sources = self.tensors();
        let targets = projected.tensors_mut();
        if sources.len() != targets.len() {
            return Err(TernaryError::Shape(format!(
                "{} tensors projected into {}",
                sources.len(),
                targets.len()
            )));
        }
        for (source, target) in sources.into_iter().zip(targets) {
            let mut target_value = target.value;
            if source.value.shape() != target_value.shape() {
                return Err(TernaryError::Shape(format!(
                    "{}: {:?} projected into {:?}",
                    source.name,
                    source.value.shape(),
                    target_value.shape()
                )));
            }
            match source.kind {
                TensorKind::Norm => target_value.assign(&source.value),
                TensorKind::Ternary => quant::project_into(
                    source
                        .value
                        .as_slice()
                        .expect("owned weights are contiguous"),
                    group_size,
                    target_value
                        .as_slice_mut()
                        .expect("owned weights are contiguous"),
                )?,
            }
        }
        Ok(())
    }

    /// The forward-pass weights `Ŵ` (see [`Self::project_into`]).
    pub fn project(&self, group_size: usize) -> Result<ModelWeights, TernaryError> {
        let mut projected = self.clone();
        self.project_into(group_size, &mut projected)?;
        Ok(projected)
    }

    /// Checks every tensor has the configuration's shape.
    pub fn check_shapes(&self, config: &ModelConfig) -> Result<(), TernaryError> {
        let ours = self.tensors();
        let expected = config.tensor_shapes();
        if ours.len() != expected.len() {
            return Err(TernaryError::Shape(format!(
                "{} tensors, the configuration has {}",
                ours.len(),
                expected.len()
            )));
        }
        for (tensor, shape) in ours.iter().zip(&expected) {
            if tensor.value.shape() != shape.as_slice() {
                return Err(TernaryError::Shape(format!(
                    "{}: {:?}, the configuration says {shape:?}",
                    tensor.name,
                    tensor.value.shape(),
                )));
            }
        }
        Ok(())
    }
}

/// Hugging Face names of the tensors outside the blocks.
pub const EMBED_TOKENS: &str = "model.embed_tokens.weight";
/// Hugging Face name of the final RMSNorm gain.
pub const FINAL_NORM: &str = "model.norm.weight";
/// Hugging Face name of the LM head.
pub const LM_HEAD: &str = "lm_head.weight";

/// Global L2 norm of all tensors, `sqrt(Σ w²)` (accumulated in f64).
pub fn global_norm(weights: &ModelWeights) -> f64 {
    let sum_of_squares: f64 = weights
        .tensors()
        .iter()
        .map(|t| {
            t.value
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
        })
        .sum();
    sum_of_squares.sqrt()
}

impl ModelWeights {
    /// Scales every tensor by `factor` in place.
    pub fn scale(&mut self, factor: f32) {
        for tensor in self.tensors_mut() {
            let mut value = tensor.value;
            value.mapv_inplace(|x| x * factor);
        }
    }
}
