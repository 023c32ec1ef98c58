//! Causal scaled-dot-product attention with grouped-query attention (GQA).
//!
//! Query head `h` reads key/value head `h / (n_heads / n_kv_heads)` (Hugging Face `repeat_kv`
//! order: consecutive query heads share a KV head; Qwen3 uses 2 query heads per KV head).
//! For one sequence and one query head, with `c = 1/sqrt(head_dim)`:
//!
//! ```text
//! S = c·Q·Kᵀ,   P = softmax_row(S) with S_ij = −∞ for j > i (causal),   O = P·V
//! ```
//!
//! Backward:
//!
//! ```text
//! dV += Pᵀ·dO,   dP = dO·Vᵀ,   dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik),
//! dQ = c·dS·K,   dK += c·dSᵀ·Q
//! ```
//!
//! `dK` and `dV` *accumulate* over the query heads that share a KV head — the GQA trap: assigning
//! instead of adding silently drops the gradient of all but one query head.
//!
//! Sequences of the batch are independent and run in parallel (rayon).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array4, ArrayView2, ArrayViewMut2, ArrayViewMut3, Axis, s};
use rayon::prelude::*;

/// Sizes of one attention call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttentionShape {
    pub batch: usize,
    pub seq_len: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

impl AttentionShape {
    fn kv_head(&self, head: usize) -> usize {
        head / (self.n_heads / self.n_kv_heads)
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }

    fn head_columns(&self, head: usize) -> std::ops::Range<usize> {
        head * self.head_dim..(head + 1) * self.head_dim
    }
}

/// Row-wise causal softmax of `c·S` in place; entries above the diagonal become exactly 0.
fn causal_softmax_in_place(scores: &mut ArrayViewMut2<f32>, scale: f32) {
    for (i, mut row) in scores.axis_iter_mut(Axis(0)).enumerate() {
        let row = row.as_slice_mut().expect("score rows are contiguous");
        let (visible, masked) = row.split_at_mut(i + 1);
        let max = visible
            .iter()
            .fold(f32::NEG_INFINITY, |m, &x| m.max(x * scale));
        let mut sum = 0.0;
        for x in visible.iter_mut() {
            *x = (*x * scale - max).exp();
            sum += *x;
        }
        visible.iter_mut().for_each(|x| *x /= sum);
        masked.fill(0.0);
    }
}

/// `q`: `[batch·seq, n_heads·head_dim]`, `k`, `v`: `[batch·seq, n_kv_heads·head_dim]` (RoPE already
/// applied to `q` and `k`). Returns the output `[batch·seq, n_heads·head_dim]` and the attention
/// probabilities `[batch, n_heads, seq, seq]` for the backward pass.
pub(crate) fn forward(
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    shape: AttentionShape,
) -> (Array2<f32>, Array4<f32>) {
    let t = shape.seq_len;
    let mut out = Array2::zeros((shape.batch * t, shape.n_heads * shape.head_dim));
    let mut probs = Array4::zeros((shape.batch, shape.n_heads, t, t));
    let work: Vec<(usize, ArrayViewMut2<f32>, ArrayViewMut3<f32>)> = out
        .axis_chunks_iter_mut(Axis(0), t)
        .zip(probs.outer_iter_mut())
        .enumerate()
        .map(|(b, (o, p))| (b, o, p))
        .collect();
    work.into_par_iter()
        .for_each(|(b, mut out_b, mut probs_b)| {
            let rows = b * t..(b + 1) * t;
            for head in 0..shape.n_heads {
                let kv = shape.kv_head(head);
                let q_h = q.slice(s![rows.clone(), shape.head_columns(head)]);
                let k_g = k.slice(s![rows.clone(), shape.head_columns(kv)]);
                let v_g = v.slice(s![rows.clone(), shape.head_columns(kv)]);
                let mut p = probs_b.index_axis_mut(Axis(0), head);
                general_mat_mul(1.0, &q_h, &k_g.t(), 0.0, &mut p);
                causal_softmax_in_place(&mut p, shape.scale());
                let mut o_h = out_b.slice_mut(s![.., shape.head_columns(head)]);
                general_mat_mul(1.0, &p, &v_g, 0.0, &mut o_h);
            }
        });
    (out, probs)
}

/// Gradients of the inputs of [`forward`]: `(dq, dk, dv)`.
pub(crate) fn backward(
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    probs: &Array4<f32>,
    d_out: ArrayView2<f32>,
    shape: AttentionShape,
) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let t = shape.seq_len;
    let mut dq = Array2::zeros(q.raw_dim());
    let mut dk = Array2::zeros(k.raw_dim());
    let mut dv = Array2::zeros(v.raw_dim());
    let work: Vec<_> = dq
        .axis_chunks_iter_mut(Axis(0), t)
        .zip(dk.axis_chunks_iter_mut(Axis(0), t))
        .zip(dv.axis_chunks_iter_mut(Axis(0), t))
        .enumerate()
        .map(|(b, ((dq_b, dk_b), dv_b))| (b, dq_b, dk_b, dv_b))
        .collect();
    work.into_par_iter()
        .for_each(|(b, mut dq_b, mut dk_b, mut dv_b)| {
            let rows = b * t..(b + 1) * t;
            let mut d_scores = Array2::<f32>::zeros((t, t));
            for head in 0..shape.n_heads {
                let kv = shape.kv_head(head);
                let columns = shape.head_columns(head);
                let kv_columns = shape.head_columns(kv);
                let q_h = q.slice(s![rows.clone(), columns.clone()]);
                let k_g = k.slice(s![rows.clone(), kv_columns.clone()]);
                let v_g = v.slice(s![rows.clone(), kv_columns.clone()]);
                let d_o = d_out.slice(s![rows.clone(), columns.clone()]);
                let p = probs.slice(s![b, head, .., ..]);

                // dV_g += Pᵀ·dO (accumulated over the query heads of the group).
                general_mat_mul(
                    1.0,
                    &p.t(),
                    &d_o,
                    1.0,
                    &mut dv_b.slice_mut(s![.., kv_columns.clone()]),
                );
                // dP = dO·Vᵀ, then the softmax Jacobian row by row.
                general_mat_mul(1.0, &d_o, &v_g.t(), 0.0, &mut d_scores);
                for (mut ds_row, p_row) in d_scores.axis_iter_mut(Axis(0)).zip(p.axis_iter(Axis(0)))
                {
                    let weighted: f32 = ds_row.iter().zip(p_row).map(|(dp, p)| dp * p).sum();
                    ds_row
                        .iter_mut()
                        .zip(p_row)
                        .for_each(|(ds, &p)| *ds = p * (*ds - weighted));
                }
                general_mat_mul(
                    shape.scale(),
                    &d_scores,
                    &k_g,
                    0.0,
                    &mut dq_b.slice_mut(s![.., columns]),
                );
                general_mat_mul(
                    shape.scale(),
                    &d_scores.t(),
                    &q_h,
                    1.0,
                    &mut dk_b.slice_mut(s![.., kv_columns]),
                );
            }
        });
    (dq, dk, dv)
}
