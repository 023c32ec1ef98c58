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

use ndarray::{Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMutD};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::TernaryError;
use crate::layers::attention::{self, AttentionShape};
use crate::layers::rope::{RopeTable, Rotation};
use crate::layers::{cross_entropy, embedding, linear, rms_norm, swiglu};
use crate::quant::{self, GROUP_SIZE};

/// Architecture of the decoder. Serialized into the results file so a grader can check the
/// architecture facts (GQA ratio, SwiGLU, RMSNorm, RoPE, group size).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads; Qwen3 uses `n_heads = 2 · n_kv_heads`.
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Width of the SwiGLU hidden layer (Qwen3: 3 × d_model).
    pub ffn_dim: usize,
    /// Longest sequence the RoPE table covers.
    pub max_seq_len: usize,
    /// RoPE base θ. Qwen3 uses 1e6 for a 32k context; at the 64–128 token contexts trained here
    /// 1e4 leaves more of the rotation frequencies distinguishable.
    pub rope_theta: f32,
    pub norm_eps: f32,
    /// Ternary group size (128).
    pub group_size: usize,
}

impl ModelConfig {
    /// The configuration of [`crate::train::run_small`]: 2 blocks, d_model 128.
    pub fn small() -> Self {
        Self {
            vocab_size: 256,
            d_model: 128,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 32,
            ffn_dim: 384,
            max_seq_len: 64,
            rope_theta: 10_000.0,
            norm_eps: 1e-6,
            group_size: GROUP_SIZE,
        }
    }

    /// The prompt's Path-B size: 6 blocks, d_model 512, 8 query heads over 4 KV heads.
    pub fn path_b() -> Self {
        Self {
            vocab_size: 256,
            d_model: 512,
            n_layers: 6,
            n_heads: 8,
            n_kv_heads: 4,
            head_dim: 64,
            ffn_dim: 1536,
            max_seq_len: 128,
            rope_theta: 10_000.0,
            norm_eps: 1e-6,
            group_size: GROUP_SIZE,
        }
    }

    pub fn validate(&self) -> Result<(), TernaryError> {
        let fail = |message: String| Err(TernaryError::Config(message));
        let sizes = [
            self.vocab_size,
            self.d_model,
            self.n_layers,
            self.n_heads,
            self.n_kv_heads,
            self.head_dim,
            self.ffn_dim,
            self.max_seq_len,
            self.group_size,
        ];
        if sizes.contains(&0) {
            return fail(format!("every size must be positive: {self:?}"));
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return fail(format!(
                "{} query heads cannot share {} KV heads evenly",
                self.n_heads, self.n_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return fail(format!(
                "RoPE pairs features: head_dim {} must be even",
                self.head_dim
            ));
        }
        if !(self.rope_theta > 1.0 && self.norm_eps > 0.0) {
            return fail(format!(
                "rope_theta {} must exceed 1 and norm_eps {} be positive",
                self.rope_theta, self.norm_eps
            ));
        }
        Ok(())
    }

    /// Shape of every tensor, in the order of [`ModelWeights::tensors`] (computed without
    /// allocating the tensors: the model checks its weights against it on every call).
    pub fn tensor_shapes(&self) -> Vec<Vec<usize>> {
        let (d, q, kv, f) = (
            self.d_model,
            self.n_heads * self.head_dim,
            self.n_kv_heads * self.head_dim,
            self.ffn_dim,
        );
        let block = [
            vec![d],
            vec![q, d],
            vec![kv, d],
            vec![kv, d],
            vec![d, q],
            vec![self.head_dim],
            vec![self.head_dim],
            vec![d],
            vec![f, d],
            vec![f, d],
            vec![d, f],
        ];
        let mut shapes = vec![vec![self.vocab_size, d]];
        for _ in 0..self.n_layers {
            shapes.extend(block.iter().cloned());
        }
        shapes.push(vec![d]);
        shapes.push(vec![self.vocab_size, d]);
        shapes
    }

    /// Number of parameters (latent ternary weights plus norm gains).
    pub fn n_parameters(&self) -> usize {
        let attention = self.d_model * self.head_dim * (2 * self.n_heads + 2 * self.n_kv_heads);
        let mlp = 3 * self.d_model * self.ffn_dim;
        let norms = 2 * self.d_model + 2 * self.head_dim;
        2 * self.vocab_size * self.d_model
            + self.n_layers * (attention + mlp + norms)
            + self.d_model
    }

    /// Matmul FLOPs of one training step (forward + backward = 3 × forward) on `batch` sequences
    /// of `seq_len` tokens: `2·N` per weight of every linear map except the embedding (a gather),
    /// plus `QKᵀ` and `PV` over the full `T × T` score matrices the code computes.
    pub fn training_flops(&self, batch: usize, seq_len: usize) -> f64 {
        let tokens = (batch * seq_len) as f64;
        let per_block = self.d_model * self.head_dim * (2 * self.n_heads + 2 * self.n_kv_heads)
            + 3 * self.d_model * self.ffn_dim;
        let linear_weights = (self.n_layers * per_block + self.vocab_size * self.d_model) as f64;
        let attention =
            4.0 * (batch * self.n_heads * seq_len * seq_len * self.head_dim * self.n_layers) as f64;
        3.0 * (2.0 * tokens * linear_weights + attention)
    }
}

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
    pub name: String,
    pub kind: TensorKind,
    pub value: ArrayViewD<'a, f32>,
}

/// Mutable counterpart of [`NamedTensor`].
#[derive(Debug)]
pub struct NamedTensorMut<'a> {
    pub name: String,
    pub kind: TensorKind,
    pub value: ArrayViewMutD<'a, f32>,
}

/// Parameters of one decoder block (`[out, in]` matrices).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockWeights {
    pub input_layernorm: Array1<f32>,
    pub q_proj: Array2<f32>,
    pub k_proj: Array2<f32>,
    pub v_proj: Array2<f32>,
    pub o_proj: Array2<f32>,
    pub q_norm: Array1<f32>,
    pub k_norm: Array1<f32>,
    pub post_attention_layernorm: Array1<f32>,
    pub gate_proj: Array2<f32>,
    pub up_proj: Array2<f32>,
    pub down_proj: Array2<f32>,
}

/// Number of tensors of a block.
const BLOCK_TENSORS: usize = 11;

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
        use TensorKind::{Norm, Ternary};
        [
            (
                "input_layernorm.weight",
                Norm,
                self.input_layernorm.view().into_dyn(),
            ),
            (
                "self_attn.q_proj.weight",
                Ternary,
                self.q_proj.view().into_dyn(),
            ),
            (
                "self_attn.k_proj.weight",
                Ternary,
                self.k_proj.view().into_dyn(),
            ),
            (
                "self_attn.v_proj.weight",
                Ternary,
                self.v_proj.view().into_dyn(),
            ),
            (
                "self_attn.o_proj.weight",
                Ternary,
                self.o_proj.view().into_dyn(),
            ),
            (
                "self_attn.q_norm.weight",
                Norm,
                self.q_norm.view().into_dyn(),
            ),
            (
                "self_attn.k_norm.weight",
                Norm,
                self.k_norm.view().into_dyn(),
            ),
            (
                "post_attention_layernorm.weight",
                Norm,
                self.post_attention_layernorm.view().into_dyn(),
            ),
            (
                "mlp.gate_proj.weight",
                Ternary,
                self.gate_proj.view().into_dyn(),
            ),
            (
                "mlp.up_proj.weight",
                Ternary,
                self.up_proj.view().into_dyn(),
            ),
            (
                "mlp.down_proj.weight",
                Ternary,
                self.down_proj.view().into_dyn(),
            ),
        ]
    }

    fn fields_mut(
        &mut self,
    ) -> [(&'static str, TensorKind, ArrayViewMutD<'_, f32>); BLOCK_TENSORS] {
        use TensorKind::{Norm, Ternary};
        [
            (
                "input_layernorm.weight",
                Norm,
                self.input_layernorm.view_mut().into_dyn(),
            ),
            (
                "self_attn.q_proj.weight",
                Ternary,
                self.q_proj.view_mut().into_dyn(),
            ),
            (
                "self_attn.k_proj.weight",
                Ternary,
                self.k_proj.view_mut().into_dyn(),
            ),
            (
                "self_attn.v_proj.weight",
                Ternary,
                self.v_proj.view_mut().into_dyn(),
            ),
            (
                "self_attn.o_proj.weight",
                Ternary,
                self.o_proj.view_mut().into_dyn(),
            ),
            (
                "self_attn.q_norm.weight",
                Norm,
                self.q_norm.view_mut().into_dyn(),
            ),
            (
                "self_attn.k_norm.weight",
                Norm,
                self.k_norm.view_mut().into_dyn(),
            ),
            (
                "post_attention_layernorm.weight",
                Norm,
                self.post_attention_layernorm.view_mut().into_dyn(),
            ),
            (
                "mlp.gate_proj.weight",
                Ternary,
                self.gate_proj.view_mut().into_dyn(),
            ),
            (
                "mlp.up_proj.weight",
                Ternary,
                self.up_proj.view_mut().into_dyn(),
            ),
            (
                "mlp.down_proj.weight",
                Ternary,
                self.down_proj.view_mut().into_dyn(),
            ),
        ]
    }
}

/// All parameters of the model. The same type holds latent weights, projected weights and
/// gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelWeights {
    /// `[vocab, d_model]`.
    pub embed_tokens: Array2<f32>,
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
        let mut out = vec![NamedTensor {
            name: EMBED_TOKENS.to_string(),
            kind: TensorKind::Ternary,
            value: self.embed_tokens.view().into_dyn(),
        }];
        for (i, block) in self.layers.iter().enumerate() {
            out.extend(
                block
                    .fields()
                    .into_iter()
                    .map(|(suffix, kind, value)| NamedTensor {
                        name: format!("model.layers.{i}.{suffix}"),
                        kind,
                        value,
                    }),
            );
        }
        out.push(NamedTensor {
            name: FINAL_NORM.to_string(),
            kind: TensorKind::Norm,
            value: self.norm.view().into_dyn(),
        });
        out.push(NamedTensor {
            name: LM_HEAD.to_string(),
            kind: TensorKind::Ternary,
            value: self.lm_head.view().into_dyn(),
        });
        out
    }

    /// Mutable view of every tensor, same order as [`Self::tensors`].
    pub fn tensors_mut(&mut self) -> Vec<NamedTensorMut<'_>> {
        let mut out = vec![NamedTensorMut {
            name: EMBED_TOKENS.to_string(),
            kind: TensorKind::Ternary,
            value: self.embed_tokens.view_mut().into_dyn(),
        }];
        for (i, block) in self.layers.iter_mut().enumerate() {
            out.extend(block.fields_mut().into_iter().map(|(suffix, kind, value)| {
                NamedTensorMut {
                    name: format!("model.layers.{i}.{suffix}"),
                    kind,
                    value,
                }
            }));
        }
        out.push(NamedTensorMut {
            name: FINAL_NORM.to_string(),
            kind: TensorKind::Norm,
            value: self.norm.view_mut().into_dyn(),
        });
        out.push(NamedTensorMut {
            name: LM_HEAD.to_string(),
            kind: TensorKind::Ternary,
            value: self.lm_head.view_mut().into_dyn(),
        });
        out
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
pub const FINAL_NORM: &str = "model.norm.weight";
pub const LM_HEAD: &str = "lm_head.weight";

/// Activations of one block the backward pass needs.
struct BlockCache {
    input: Array2<f32>,
    attn_inv_rms: Array1<f32>,
    attn_in: Array2<f32>,
    q_raw: Array2<f32>,
    q_inv_rms: Array1<f32>,
    k_raw: Array2<f32>,
    k_inv_rms: Array1<f32>,
    q: Array2<f32>,
    k: Array2<f32>,
    v: Array2<f32>,
    probs: ndarray::Array4<f32>,
    attn_out: Array2<f32>,
    mid: Array2<f32>,
    mlp_inv_rms: Array1<f32>,
    mlp_in: Array2<f32>,
    gate: Array2<f32>,
    up: Array2<f32>,
    act: Array2<f32>,
}

/// Activations of the whole forward pass.
struct ForwardCache {
    tokens: Vec<usize>,
    blocks: Vec<BlockCache>,
    final_in: Array2<f32>,
    final_inv_rms: Array1<f32>,
    final_out: Array2<f32>,
}

/// `[rows, heads·head_dim]` seen as `[rows·heads, head_dim]`: per-head RMSNorm is an RMSNorm
/// over rows of that view.
fn per_head_rows(x: ArrayView2<'_, f32>, head_dim: usize) -> ArrayView2<'_, f32> {
    let rows = x.len() / head_dim;
    x.into_shape_with_order((rows, head_dim))
        .expect("activations are contiguous and a whole number of heads wide")
}

fn from_per_head_rows(x: Array2<f32>, rows: usize) -> Array2<f32> {
    let columns = x.len() / rows;
    x.into_shape_with_order((rows, columns))
        .expect("per-head rows regroup into whole rows")
}

/// The decoder: configuration plus the RoPE table; weights are passed to each call.
#[derive(Debug, Clone)]
pub struct Qwen3Model {
    config: ModelConfig,
    rope: RopeTable,
}

impl Qwen3Model {
    pub fn new(config: ModelConfig) -> Result<Self, TernaryError> {
        config.validate()?;
        let rope = RopeTable::new(config.max_seq_len, config.head_dim, config.rope_theta);
        Ok(Self { config, rope })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn check_tokens(
        &self,
        weights: &ModelWeights,
        tokens: ArrayView2<usize>,
    ) -> Result<(), TernaryError> {
        weights.check_shapes(&self.config)?;
        let (batch, seq_len) = tokens.dim();
        if batch == 0 || seq_len == 0 || seq_len > self.config.max_seq_len {
            return Err(TernaryError::Shape(format!(
                "token batch {batch}×{seq_len}: need at least one token and at most {} per sequence",
                self.config.max_seq_len
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t >= self.config.vocab_size) {
            return Err(TernaryError::Shape(format!(
                "token id {bad} outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    fn attention_shape(&self, batch: usize, seq_len: usize) -> AttentionShape {
        AttentionShape {
            batch,
            seq_len,
            n_heads: self.config.n_heads,
            n_kv_heads: self.config.n_kv_heads,
            head_dim: self.config.head_dim,
        }
    }

    fn block_forward(
        &self,
        w: &BlockWeights,
        input: Array2<f32>,
        shape: AttentionShape,
    ) -> (Array2<f32>, BlockCache) {
        let c = &self.config;
        let rows = input.nrows();
        let (attn_in, attn_inv_rms) =
            rms_norm::forward(input.view(), w.input_layernorm.view(), c.norm_eps);
        let q_raw = linear::forward(attn_in.view(), w.q_proj.view());
        let k_raw = linear::forward(attn_in.view(), w.k_proj.view());
        let v = linear::forward(attn_in.view(), w.v_proj.view());
        let (q_normed, q_inv_rms) = rms_norm::forward(
            per_head_rows(q_raw.view(), c.head_dim),
            w.q_norm.view(),
            c.norm_eps,
        );
        let (k_normed, k_inv_rms) = rms_norm::forward(
            per_head_rows(k_raw.view(), c.head_dim),
            w.k_norm.view(),
            c.norm_eps,
        );
        let mut q = from_per_head_rows(q_normed, rows);
        let mut k = from_per_head_rows(k_normed, rows);
        self.rope
            .rotate(&mut q.view_mut(), shape.seq_len, Rotation::Forward);
        self.rope
            .rotate(&mut k.view_mut(), shape.seq_len, Rotation::Forward);
        let (attn_out, probs) = attention::forward(q.view(), k.view(), v.view(), shape);
        let mid = &input + &linear::forward(attn_out.view(), w.o_proj.view());
        let (mlp_in, mlp_inv_rms) =
            rms_norm::forward(mid.view(), w.post_attention_layernorm.view(), c.norm_eps);
        let gate = linear::forward(mlp_in.view(), w.gate_proj.view());
        let up = linear::forward(mlp_in.view(), w.up_proj.view());
        let act = swiglu::forward(gate.view(), up.view());
        let output = &mid + &linear::forward(act.view(), w.down_proj.view());
        let cache = BlockCache {
            input,
            attn_inv_rms,
            attn_in,
            q_raw,
            q_inv_rms,
            k_raw,
            k_inv_rms,
            q,
            k,
            v,
            probs,
            attn_out,
            mid,
            mlp_inv_rms,
            mlp_in,
            gate,
            up,
            act,
        };
        (output, cache)
    }

    /// Backward through one block: adds parameter gradients into `g`, returns `∂L/∂input`.
    fn block_backward(
        &self,
        w: &BlockWeights,
        cache: &BlockCache,
        d_output: Array2<f32>,
        shape: AttentionShape,
        g: &mut BlockWeights,
    ) -> Array2<f32> {
        let c = &self.config;
        let rows = d_output.nrows();

        // MLP branch: output = mid + act·Ŵdownᵀ.
        let mut d_act = Array2::zeros(cache.act.raw_dim());
        linear::backward_accumulate(
            cache.act.view(),
            w.down_proj.view(),
            d_output.view(),
            &mut g.down_proj.view_mut(),
            &mut d_act.view_mut(),
        );
        let (d_gate, d_up) = swiglu::backward(cache.gate.view(), cache.up.view(), d_act.view());
        let mut d_mlp_in = Array2::zeros(cache.mlp_in.raw_dim());
        linear::backward_accumulate(
            cache.mlp_in.view(),
            w.gate_proj.view(),
            d_gate.view(),
            &mut g.gate_proj.view_mut(),
            &mut d_mlp_in.view_mut(),
        );
        linear::backward_accumulate(
            cache.mlp_in.view(),
            w.up_proj.view(),
            d_up.view(),
            &mut g.up_proj.view_mut(),
            &mut d_mlp_in.view_mut(),
        );
        let d_mid = d_output
            + rms_norm::backward(
                cache.mid.view(),
                w.post_attention_layernorm.view(),
                cache.mlp_inv_rms.view(),
                d_mlp_in.view(),
                &mut g.post_attention_layernorm.view_mut(),
            );

        // Attention branch: mid = input + attn_out·Ŵoᵀ.
        let mut d_attn_out = Array2::zeros(cache.attn_out.raw_dim());
        linear::backward_accumulate(
            cache.attn_out.view(),
            w.o_proj.view(),
            d_mid.view(),
            &mut g.o_proj.view_mut(),
            &mut d_attn_out.view_mut(),
        );
        let (mut d_q, mut d_k, d_v) = attention::backward(
            cache.q.view(),
            cache.k.view(),
            cache.v.view(),
            &cache.probs,
            d_attn_out.view(),
            shape,
        );
        self.rope
            .rotate(&mut d_q.view_mut(), shape.seq_len, Rotation::Inverse);
        self.rope
            .rotate(&mut d_k.view_mut(), shape.seq_len, Rotation::Inverse);
        let d_q_raw = rms_norm::backward(
            per_head_rows(cache.q_raw.view(), c.head_dim),
            w.q_norm.view(),
            cache.q_inv_rms.view(),
            per_head_rows(d_q.view(), c.head_dim),
            &mut g.q_norm.view_mut(),
        );
        let d_k_raw = rms_norm::backward(
            per_head_rows(cache.k_raw.view(), c.head_dim),
            w.k_norm.view(),
            cache.k_inv_rms.view(),
            per_head_rows(d_k.view(), c.head_dim),
            &mut g.k_norm.view_mut(),
        );
        let d_q_raw = from_per_head_rows(d_q_raw, rows);
        let d_k_raw = from_per_head_rows(d_k_raw, rows);
        let mut d_attn_in = Array2::zeros(cache.attn_in.raw_dim());
        for (projection, d_projected, d_weight) in [
            (&w.q_proj, &d_q_raw, &mut g.q_proj),
            (&w.k_proj, &d_k_raw, &mut g.k_proj),
            (&w.v_proj, &d_v, &mut g.v_proj),
        ] {
            linear::backward_accumulate(
                cache.attn_in.view(),
                projection.view(),
                d_projected.view(),
                &mut d_weight.view_mut(),
                &mut d_attn_in.view_mut(),
            );
        }
        d_mid
            + rms_norm::backward(
                cache.input.view(),
                w.input_layernorm.view(),
                cache.attn_inv_rms.view(),
                d_attn_in.view(),
                &mut g.input_layernorm.view_mut(),
            )
    }

    fn forward(
        &self,
        weights: &ModelWeights,
        tokens: ArrayView2<usize>,
    ) -> (Array2<f32>, ForwardCache) {
        let (batch, seq_len) = tokens.dim();
        let shape = self.attention_shape(batch, seq_len);
        let tokens: Vec<usize> = tokens.iter().copied().collect();
        let mut hidden = embedding::forward(weights.embed_tokens.view(), &tokens);
        let mut blocks = Vec::with_capacity(self.config.n_layers);
        for block in &weights.layers {
            let (next, cache) = self.block_forward(block, hidden, shape);
            hidden = next;
            blocks.push(cache);
        }
        let (final_out, final_inv_rms) =
            rms_norm::forward(hidden.view(), weights.norm.view(), self.config.norm_eps);
        let logits = linear::forward(final_out.view(), weights.lm_head.view());
        let cache = ForwardCache {
            tokens,
            blocks,
            final_in: hidden,
            final_inv_rms,
            final_out,
        };
        (logits, cache)
    }

    /// Logits `[batch·seq_len, vocab]` of every position of `tokens` (`[batch, seq_len]`), computed
    /// with `weights` as given (pass the projected weights).
    pub fn logits(
        &self,
        weights: &ModelWeights,
        tokens: ArrayView2<usize>,
    ) -> Result<Array2<f32>, TernaryError> {
        self.check_tokens(weights, tokens)?;
        Ok(self.forward(weights, tokens).0)
    }

    /// Negative log-likelihood (nats) of each `targets[b, t]` given `inputs[b, ..=t]`.
    pub fn token_nll(
        &self,
        weights: &ModelWeights,
        inputs: ArrayView2<usize>,
        targets: ArrayView2<usize>,
    ) -> Result<Vec<f64>, TernaryError> {
        self.check_targets(inputs, targets)?;
        let logits = self.logits(weights, inputs)?;
        let targets: Vec<usize> = targets.iter().copied().collect();
        Ok(cross_entropy::nll_per_row(logits.view(), &targets))
    }

    fn check_targets(
        &self,
        inputs: ArrayView2<usize>,
        targets: ArrayView2<usize>,
    ) -> Result<(), TernaryError> {
        if inputs.dim() != targets.dim() {
            return Err(TernaryError::Shape(format!(
                "inputs {:?} and targets {:?} differ",
                inputs.dim(),
                targets.dim()
            )));
        }
        if let Some(&bad) = targets.iter().find(|&&t| t >= self.config.vocab_size) {
            return Err(TernaryError::Shape(format!(
                "target id {bad} outside the vocabulary"
            )));
        }
        Ok(())
    }

    /// Mean next-token cross-entropy and its gradient with respect to every tensor of `weights`
    /// (the projected weights the forward pass ran with; by the straight-through estimator also
    /// the gradient of the latent weights).
    pub fn loss_and_gradients(
        &self,
        weights: &ModelWeights,
        inputs: ArrayView2<usize>,
        targets: ArrayView2<usize>,
    ) -> Result<(f64, ModelWeights), TernaryError> {
        self.check_tokens(weights, inputs)?;
        self.check_targets(inputs, targets)?;
        let (batch, seq_len) = inputs.dim();
        let shape = self.attention_shape(batch, seq_len);
        let (logits, cache) = self.forward(weights, inputs);
        let targets: Vec<usize> = targets.iter().copied().collect();
        let (loss, d_logits) = cross_entropy::loss_and_gradient(logits.view(), &targets);

        let mut grads = ModelWeights::zeros(&self.config);
        let mut d_final_out = Array2::zeros(cache.final_out.raw_dim());
        linear::backward_accumulate(
            cache.final_out.view(),
            weights.lm_head.view(),
            d_logits.view(),
            &mut grads.lm_head.view_mut(),
            &mut d_final_out.view_mut(),
        );
        let mut d_hidden = rms_norm::backward(
            cache.final_in.view(),
            weights.norm.view(),
            cache.final_inv_rms.view(),
            d_final_out.view(),
            &mut grads.norm.view_mut(),
        );
        for ((block, block_cache), block_grads) in weights
            .layers
            .iter()
            .zip(&cache.blocks)
            .zip(grads.layers.iter_mut())
            .rev()
        {
            d_hidden = self.block_backward(block, block_cache, d_hidden, shape, block_grads);
        }
        embedding::backward(
            &cache.tokens,
            d_hidden.view(),
            &mut grads.embed_tokens.view_mut(),
        );
        Ok((loss, grads))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Axis};
    use rand::{SeedableRng, rngs::StdRng};

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
