//! The tiled backward pass: dQ, dK, dV from dO, recomputing the probabilities block by block
//! from the stored log-sum-exp L instead of keeping the N × N softmax.
//!
//! With S = Q Kᵀ·s (s = 1/√D), P = softmax(S) row-wise and O = P V, for one block of query
//! rows i and key rows j:
//!
//! ```text
//! P_ij  = exp(S_ij − L_i)              exact probabilities: L already holds the row's max and sum
//! dV_j += Σ_i P_ij dO_i                 (Pᵀ dO)
//! dP_ij = dO_i · V_j                    (dO Vᵀ)
//! dS_ij = P_ij (dP_ij − D_i)            softmax gradient
//! dQ_i += s · Σ_j dS_ij K_j             (dS K)
//! dK_j += s · Σ_i dS_ij Q_i             (dSᵀ Q)
//! ```
//!
//! where D_i = Σ_j P_ij dP_ij is summed over the WHOLE row i, all key tiles together. The
//! prompt's step 2e computes `rowsum(P * dP)` inside one key tile and subtracts that partial
//! sum; that is D_i only when a single key tile covers the row (T ≥ N). With several key tiles
//! every tile subtracts its own partial sum and dQ and dK come out wrong: the largest error is
//! 0.1–0.2 of the largest entry at N = 64, T = 16 and still ~0.09 at the prompt's own Test 2
//! (N = 256, T = 64), which therefore fails (`tests/partial_rowsum_trap.rs` measures it; dV,
//! which does not use D, stays right). The whole-row sum needs no second pass over the keys,
//! because
//!
//! ```text
//! D_i = Σ_j P_ij (dO_i · V_j) = dO_i · Σ_j P_ij V_j = dO_i · O_i,
//! ```
//!
//! so it is computed once per query row from dO and O, before the block loop.
//!
//! The factor s in dQ and dK is the chain rule through S = s·Q Kᵀ; the prompt's steps 2f and 2g
//! (`dQ_tile += dS @ K_tile`) leave it out, which scales both gradients by √D.
//!
//! Loop order: key tiles outside, query tiles inside. A key tile's dK and dV rows then receive
//! every contribution from one worker and are written by no one else, so workers can own
//! disjoint key tiles; only dQ is shared, and each extra worker of a head sums its dQ into a
//! private N × D buffer that is added at the end (O(N·D), never N × N). Blocks wholly above
//! the diagonal are skipped, blocks on it are masked exactly as in the forward pass.

use ndarray::{
    Array2, Array3, Array4, ArrayView1, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut2, Axis,
    Zip, s,
};
use rayon::prelude::*;

use crate::error::check_shapes;
use crate::matmul::matmul;
use crate::simd::simd_kernel;
use crate::tiling::{
    Tile, Visibility, block_visibility, head_rows, head_rows_mut, heads, heads_mut,
    mask_future_keys, tiles,
};
use crate::{AttentionError, FlashAttention, Float, Parallelism, rowwise};

/// Gradients of a scalar loss with respect to the attention inputs, each (B, H, N, D).
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients<F> {
    /// ∂loss/∂Q.
    pub dq: Array4<F>,
    /// ∂loss/∂K.
    pub dk: Array4<F>,
    /// ∂loss/∂V.
    pub dv: Array4<F>,
}

/// Read-only data of one head.
#[derive(Clone, Copy)]
struct Head<'a, F> {
    q: ArrayView2<'a, F>,
    k: ArrayView2<'a, F>,
    v: ArrayView2<'a, F>,
    d_o: ArrayView2<'a, F>,
    lse: ArrayView1<'a, F>,
    /// D_i = dO_i · O_i.
    delta: ArrayView1<'a, F>,
}

/// One key tile's rows of dK and dV, written only by the worker that owns the tile.
struct KeyTile<'a, F> {
    keys: Tile,
    dk: ArrayViewMut2<'a, F>,
    dv: ArrayViewMut2<'a, F>,
}

/// Where a worker accumulates dQ: straight into the output, or into a private buffer that is
/// added to the output afterwards (extra workers of the same head).
enum DqTarget<'a, F> {
    Output(ArrayViewMut2<'a, F>),
    Private,
}

/// The unit of work, and of parallelism: a set of key tiles of one head.
struct KeyTilesTask<'a, F> {
    head_index: usize,
    head: Head<'a, F>,
    key_tiles: Vec<KeyTile<'a, F>>,
    dq: DqTarget<'a, F>,
}

/// Per-worker buffers, reused across blocks.
struct Scratch<F> {
    probabilities: Array2<F>,
    score_grads: Array2<F>,
}

impl<F: Float> Scratch<F> {
    fn new(tile: usize) -> Self {
        Self {
            probabilities: Array2::zeros((tile, tile)),
            score_grads: Array2::zeros((tile, tile)),
        }
    }
}

pub(crate) fn backward<F: Float>(
    config: &FlashAttention,
    d_o: ArrayView4<F>,
    q: ArrayView4<F>,
    k: ArrayView4<F>,
    v: ArrayView4<F>,
    o: ArrayView4<F>,
    lse: ArrayView3<F>,
) -> Result<Gradients<F>, AttentionError> {
    let shape = q.shape();
    let same_as_q = [
        ("k", k.shape()),
        ("v", v.shape()),
        ("o", o.shape()),
        ("d_o", d_o.shape()),
    ];
    check_shapes(shape, &same_as_q)?;
    check_shapes(&shape[..3], &[("lse", lse.shape())])?;
    let (batch, heads_per_batch, n, d) = q.dim();
    let tile = config.checked_tile(n, d)?;

    let delta = row_dot(d_o, o);
    let mut grads = Gradients {
        dq: Array4::zeros(q.raw_dim()),
        dk: Array4::zeros(q.raw_dim()),
        dv: Array4::zeros(q.raw_dim()),
    };
    let inputs = heads(q).zip(heads(k)).zip(heads(v)).zip(heads(d_o));
    let row_stats = head_rows(lse).zip(head_rows(delta.view()));
    let heads_data = inputs
        .zip(row_stats)
        .map(|((((q, k), v), d_o), (lse, delta))| Head {
            q,
            k,
            v,
            d_o,
            lse,
            delta,
        });
    let workers_per_head = match config.parallelism {
        Parallelism::Sequential => 1,
        Parallelism::Rayon => {
            rayon::current_num_threads().div_ceil((batch * heads_per_batch).max(1))
        }
    };
    let tasks = split_into_tasks(heads_data, &mut grads, tile, workers_per_head);

    let scale = F::from_f64(1.0 / (d as f64).sqrt());
    let run = |scratch: &mut Scratch<F>, task: KeyTilesTask<F>| {
        backward_key_tiles(task, tile, config.causal, scale, scratch)
    };
    let private_dq: Vec<(usize, Array2<F>)> = match config.parallelism {
        Parallelism::Sequential => {
            let mut scratch = Scratch::new(tile);
            tasks
                .into_iter()
                .filter_map(|task| run(&mut scratch, task))
                .collect()
        }
        Parallelism::Rayon => tasks
            .into_par_iter()
            .map_init(|| Scratch::new(tile), run)
            .flatten_iter()
            .collect(),
    };
    let mut dq_heads: Vec<_> = heads_mut(grads.dq.view_mut()).collect();
    for (head_index, partial) in private_dq {
        dq_heads[head_index] += &partial;
    }
    Ok(grads)
}

/// D_i = Σ_j P_ij dP_ij = dO_i · O_i for every query row, shape (B, H, N).
fn row_dot<F: Float>(d_o: ArrayView4<F>, o: ArrayView4<F>) -> Array3<F> {
    let (batch, heads_per_batch, n, _) = o.dim();
    let mut delta = Array3::zeros((batch, heads_per_batch, n));
    for ((mut delta, d_o), o) in head_rows_mut(delta.view_mut())
        .zip(heads(d_o))
        .zip(heads(o))
    {
        Zip::from(&mut delta)
            .and(d_o.rows())
            .and(o.rows())
            .for_each(|delta_i, d_o_i, o_i| *delta_i = d_o_i.dot(&o_i));
    }
    delta
}

/// Splits each head's key tiles round-robin over `workers_per_head` tasks (under the causal
/// mask early key tiles meet more query tiles, so round-robin balances the work). Each task owns
/// the dK and dV rows of its key tiles; the first task of a head accumulates into the head's dQ,
/// the others into private buffers.
fn split_into_tasks<'a, F: Float>(
    heads_data: impl Iterator<Item = Head<'a, F>>,
    grads: &'a mut Gradients<F>,
    tile: usize,
    workers_per_head: usize,
) -> Vec<KeyTilesTask<'a, F>> {
    let n = grads.dq.dim().2;
    let workers = workers_per_head.clamp(1, n.div_ceil(tile).max(1));
    let outputs = heads_mut(grads.dq.view_mut())
        .zip(heads_mut(grads.dk.view_mut()))
        .zip(heads_mut(grads.dv.view_mut()));
    let mut tasks = Vec::new();
    for (head_index, (head, ((dq, dk), dv))) in heads_data.zip(outputs).enumerate() {
        let mut per_worker: Vec<Vec<KeyTile<F>>> = (0..workers).map(|_| Vec::new()).collect();
        let key_tiles = tiles(n, tile)
            .zip(dk.into_axis_chunks_iter_mut(Axis(0), tile))
            .zip(dv.into_axis_chunks_iter_mut(Axis(0), tile));
        for (index, ((keys, dk), dv)) in key_tiles.enumerate() {
            per_worker[index % workers].push(KeyTile { keys, dk, dv });
        }
        let mut dq = Some(dq);
        for key_tiles in per_worker {
            tasks.push(KeyTilesTask {
                head_index,
                head,
                key_tiles,
                dq: dq.take().map_or(DqTarget::Private, DqTarget::Output),
            });
        }
    }
    tasks
}

/// Runs one task; returns its private dQ with the head it belongs to, if it used one.
fn backward_key_tiles<F: Float>(
    task: KeyTilesTask<F>,
    tile: usize,
    causal: bool,
    scale: F,
    scratch: &mut Scratch<F>,
) -> Option<(usize, Array2<F>)> {
    match task.dq {
        DqTarget::Output(dq) => {
            accumulate_blocks(task.head, task.key_tiles, dq, tile, causal, scale, scratch);
            None
        }
        DqTarget::Private => {
            let mut dq = Array2::zeros(task.head.q.raw_dim());
            accumulate_blocks(
                task.head,
                task.key_tiles,
                dq.view_mut(),
                tile,
                causal,
                scale,
                scratch,
            );
            Some((task.head_index, dq))
        }
    }
}

/// Adds the contribution of every visible (query tile, key tile) block of the given key tiles
/// to dK and dV of those tiles and to `dq`.
fn accumulate_blocks<F: Float>(
    head: Head<F>,
    key_tiles: Vec<KeyTile<F>>,
    mut dq: ArrayViewMut2<F>,
    tile: usize,
    causal: bool,
    scale: F,
    scratch: &mut Scratch<F>,
) {
    let n = head.q.nrows();
    for KeyTile {
        keys,
        mut dk,
        mut dv,
    } in key_tiles
    {
        let k_j = head.k.slice(s![keys.range(), ..]);
        let v_j = head.v.slice(s![keys.range(), ..]);
        for queries in tiles(n, tile) {
            let visibility = block_visibility(queries, keys, causal);
            if visibility == Visibility::Hidden {
                continue;
            }
            let rows = queries.range();
            let (q_i, d_o_i) = (
                head.q.slice(s![rows.clone(), ..]),
                head.d_o.slice(s![rows.clone(), ..]),
            );
            let block = s![..queries.len(), ..keys.len()];
            let mut p = scratch.probabilities.slice_mut(block);
            let mut ds = scratch.score_grads.slice_mut(block);

            // P = exp(S − L), S = Q_i K_jᵀ·s, masked like the forward pass.
            matmul(scale, &q_i, &k_j.t(), F::zero(), &mut p);
            if visibility == Visibility::Partial {
                mask_future_keys(&mut p, queries, keys);
            }
            probabilities_from_lse(p.view_mut(), head.lse.slice(s![rows.clone()]));
            // dV_j += Pᵀ dO_i
            matmul(F::one(), &p.t(), &d_o_i, F::one(), &mut dv);
            // dP = dO_i V_jᵀ, then dS = P ∘ (dP − D) in place.
            matmul(F::one(), &d_o_i, &v_j.t(), F::zero(), &mut ds);
            softmax_grad_rows(p.view(), ds.view_mut(), head.delta.slice(s![rows.clone()]));
            // dQ_i += s·dS K_j,  dK_j += s·dSᵀ Q_i
            matmul(scale, &ds, &k_j, F::one(), &mut dq.slice_mut(s![rows, ..]));
            matmul(scale, &ds.t(), &q_i, F::one(), &mut dk);
        }
    }
}

simd_kernel! {
    /// P_ij ← exp(S_ij − L_i) in place: the exact probabilities, since L_i holds the row's max and
    /// sum (arguments are ≤ 0 up to rounding, so nothing overflows; masked −∞ scores give 0).
    fn probabilities_from_lse<F: Float>(scores: ArrayViewMut2<F>, lse: ArrayView1<F>) {
        let mut scores = scores;
        for (mut row, &lse_i) in scores.rows_mut().into_iter().zip(lse) {
            rowwise::exp_shifted(row.as_slice_mut().expect("scratch rows are contiguous"), lse_i);
        }
    }
}

simd_kernel! {
    /// dS_ij ← P_ij (dP_ij − D_i), in place over dP.
    fn softmax_grad_rows<F: Float>(p: ArrayView2<F>, dp: ArrayViewMut2<F>, delta: ArrayView1<F>) {
        let mut dp = dp;
        for ((p_row, mut dp_row), &d_i) in p.rows().into_iter().zip(dp.rows_mut()).zip(delta) {
            let p_row = p_row.to_slice().expect("scratch rows are contiguous");
            let dp_row = dp_row.as_slice_mut().expect("scratch rows are contiguous");
            rowwise::softmax_grad(p_row, dp_row, d_i);
        }
    }
}
