//! The forward pass and its hand-written backward pass.

use ndarray::{Array1, Array2, ArrayView2};

use crate::error::TernaryError;
use crate::layers::attention::{self, AttentionShape};
use crate::layers::rope::{RopeTable, Rotation};
use crate::layers::{cross_entropy, embedding, linear, rms_norm, swiglu};

use super::{BlockWeights, ModelConfig, ModelWeights};

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
    /// A decoder for `config`, with its RoPE table; fails if the configuration is invalid.
    pub fn new(config: ModelConfig) -> Result<Self, TernaryError> {
        config.validate()?;
        let rope = RopeTable::new(config.max_seq_len, config.head_dim, config.rope_theta);
        Ok(Self { config, rope })
    }

    /// The architecture it was built with.
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
