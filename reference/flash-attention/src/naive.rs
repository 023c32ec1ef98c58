//! Attention and its gradient the textbook way, materialising the N × N softmax of every head.
//!
//! Independent of the tiled code on purpose (standard-library `exp`, whole-row reductions, the
//! softmax gradient through Σ_j P_ij dP_ij rather than dO_i · O_i), so that tests and graders can
//! use it as the expected value. O(N²) memory: for small N only.

use ndarray::{Array2, Array3, Array4, ArrayView2, ArrayView4, Axis};

use crate::error::check_shapes;
use crate::tiling::{head_rows_mut, heads, heads_mut};
use crate::{AttentionError, Float, ForwardOutput, Gradients};

/// P = softmax(Q Kᵀ / √D) row-wise, with key j hidden from query i when `causal` and j > i;
/// also returns L_i = log Σ_j exp(S_ij).
fn probabilities<F: Float>(
    q: ArrayView2<F>,
    k: ArrayView2<F>,
    causal: bool,
) -> (Array2<F>, Vec<F>) {
    let scale = F::from_f64(1.0 / (q.ncols() as f64).sqrt());
    let mut p = q.dot(&k.t()) * scale;
    let mut lse = Vec::with_capacity(p.nrows());
    for (i, mut row) in p.rows_mut().into_iter().enumerate() {
        if causal {
            row.iter_mut()
                .skip(i + 1)
                .for_each(|s| *s = F::neg_infinity());
        }
        let max = row.fold(F::neg_infinity(), |m, &s| m.max(s));
        row.mapv_inplace(|s| (s - max).exp());
        let sum = row.sum();
        row /= sum;
        lse.push(max + sum.ln());
    }
    (p, lse)
}

fn validate<F: Float>(
    q: &ArrayView4<F>,
    others: &[(&'static str, &[usize])],
) -> Result<(), AttentionError> {
    check_shapes(q.shape(), others)?;
    if q.dim().3 == 0 {
        return Err(AttentionError::EmptyHeadDim);
    }
    Ok(())
}

/// O = softmax(Q Kᵀ / √D) V and L = logsumexp(Q Kᵀ / √D), inputs (B, H, N, D).
pub fn attention<F: Float>(
    q: ArrayView4<F>,
    k: ArrayView4<F>,
    v: ArrayView4<F>,
    causal: bool,
) -> Result<ForwardOutput<F>, AttentionError> {
    validate(&q, &[("k", k.shape()), ("v", v.shape())])?;
    let (batch, heads_per_batch, n, _) = q.dim();
    let mut o = Array4::zeros(q.raw_dim());
    let mut lse = Array3::zeros((batch, heads_per_batch, n));
    let outputs = heads_mut(o.view_mut()).zip(head_rows_mut(lse.view_mut()));
    for (((q, k), v), (mut o, mut lse)) in heads(q).zip(heads(k)).zip(heads(v)).zip(outputs) {
        let (p, row_lse) = probabilities(q, k, causal);
        o.assign(&p.dot(&v));
        lse.assign(&ndarray::Array1::from(row_lse));
    }
    Ok(ForwardOutput { o, lse })
}

/// dQ, dK, dV of a loss whose gradient with respect to O = attention(Q, K, V) is `d_o`.
///
/// dV = Pᵀ dO, dP = dO Vᵀ, dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik), dQ = dS K / √D,
/// dK = dSᵀ Q / √D.
pub fn attention_backward<F: Float>(
    d_o: ArrayView4<F>,
    q: ArrayView4<F>,
    k: ArrayView4<F>,
    v: ArrayView4<F>,
    causal: bool,
) -> Result<Gradients<F>, AttentionError> {
    validate(
        &q,
        &[("k", k.shape()), ("v", v.shape()), ("d_o", d_o.shape())],
    )?;
    let scale = F::from_f64(1.0 / (q.dim().3 as f64).sqrt());
    let mut dq = Array4::zeros(q.raw_dim());
    let mut dk = Array4::zeros(q.raw_dim());
    let mut dv = Array4::zeros(q.raw_dim());
    let grads = heads_mut(dq.view_mut())
        .zip(heads_mut(dk.view_mut()))
        .zip(heads_mut(dv.view_mut()));
    let inputs = heads(d_o).zip(heads(q)).zip(heads(k)).zip(heads(v));
    for ((((d_o, q), k), v), ((mut dq, mut dk), mut dv)) in inputs.zip(grads) {
        let (p, _) = probabilities(q, k, causal);
        dv.assign(&p.t().dot(&d_o));
        let dp = d_o.dot(&v.t());
        let row_sums = (&p * &dp).sum_axis(Axis(1)).insert_axis(Axis(1));
        let ds = &p * &(&dp - &row_sums);
        dq.assign(&(ds.dot(&k) * scale));
        dk.assign(&(ds.t().dot(&q) * scale));
    }
    Ok(Gradients { dq, dk, dv })
}
