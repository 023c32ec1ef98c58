//! The prompt's step 2e taken literally, to recognise it in a submission's answer.
//!
//! The softmax gradient is dS_ij = P_ij (dP_ij − D_i) with D_i = Σ_j P_ij dP_ij over the WHOLE
//! row i (= dO_i · O_i). Step 2e computes `rowsum(P * dP)` inside one (Q tile, KV tile) block
//! and subtracts that partial sum, which is D_i only when one key tile covers the row. This
//! module computes exactly that wrong dQ and dK, so that the evidence can say "your dQ and dK
//! are the per-tile rowsum's" instead of only "they are wrong". It is never an expected value.

use ndarray::{Array2, Array4, ArrayView1, ArrayView2, Axis, s};

use crate::cases::Case;

/// dQ and dK of `case` with the rowsum of each block subtracted in place of D_i; `lse` is the
/// true log-sum-exp (B, H, N), so that the probabilities themselves are right.
pub fn per_tile_rowsum_gradients(case: &Case, lse: &ndarray::Array3<f64>) -> [Array4<f64>; 2] {
    let mut dq = Array4::zeros(case.q.raw_dim());
    let mut dk = Array4::zeros(case.q.raw_dim());
    let [batch, heads, _, _] = case.shape();
    for b in 0..batch {
        for h in 0..heads {
            let head = |a: &Array4<f64>| a.slice(s![b, h, .., ..]).to_owned();
            let (head_dq, head_dk) = head_gradients(
                case,
                head(&case.q).view(),
                head(&case.k).view(),
                head(&case.v).view(),
                head(&case.d_o).view(),
                lse.slice(s![b, h, ..]),
            );
            dq.slice_mut(s![b, h, .., ..]).assign(&head_dq);
            dk.slice_mut(s![b, h, .., ..]).assign(&head_dk);
        }
    }
    [dq, dk]
}

/// One head, Q tiles outside and KV tiles inside, as the prompt lays the loops out.
fn head_gradients(
    case: &Case,
    q: ArrayView2<f64>,
    k: ArrayView2<f64>,
    v: ArrayView2<f64>,
    d_o: ArrayView2<f64>,
    lse: ArrayView1<f64>,
) -> (Array2<f64>, Array2<f64>) {
    let (n, d) = q.dim();
    let scale = 1.0 / (d as f64).sqrt();
    let mut dq = Array2::zeros((n, d));
    let mut dk = Array2::zeros((n, d));
    for q0 in (0..n).step_by(case.tile) {
        let q1 = (q0 + case.tile).min(n);
        for k0 in (0..n).step_by(case.tile) {
            let k1 = (k0 + case.tile).min(n);
            if case.causal && k0 >= q1 {
                continue; // wholly above the diagonal
            }
            let (q_i, d_o_i) = (q.slice(s![q0..q1, ..]), d_o.slice(s![q0..q1, ..]));
            let (k_j, v_j) = (k.slice(s![k0..k1, ..]), v.slice(s![k0..k1, ..]));
            let mut p = q_i.dot(&k_j.t()) * scale;
            for ((r, c), x) in p.indexed_iter_mut() {
                let hidden = case.causal && k0 + c > q0 + r;
                *x = if hidden {
                    0.0
                } else {
                    (*x - lse[q0 + r]).exp()
                };
            }
            let dp = d_o_i.dot(&v_j.t());
            // Step 2e: the rowsum of THIS block only.
            let block_rowsum = (&p * &dp).sum_axis(Axis(1)).insert_axis(Axis(1));
            let ds = &p * &(&dp - &block_rowsum);
            dq.slice_mut(s![q0..q1, ..])
                .scaled_add(scale, &ds.dot(&k_j));
            dk.slice_mut(s![k0..k1, ..])
                .scaled_add(scale, &ds.t().dot(&q_i));
        }
    }
    (dq, dk)
}
