//! The tiled forward pass: O = softmax(Q Kᵀ / √D) V and L = logsumexp(Q Kᵀ / √D), one
//! (query tile × key tile) block of scores at a time.
//!
//! Memory: the only buffers beyond the outputs are one T × T block of scores and two
//! length-T vectors (m, l) per worker (plus `gemm`'s per-thread packing buffer), so nothing of
//! size N × N ever exists. The output rows of the current query tile serve as the accumulator O.

use ndarray::{Array2, Array3, Array4, ArrayView2, ArrayView4, ArrayViewMut1, ArrayViewMut2, s};
use rayon::prelude::*;

use crate::error::check_shapes;
use crate::matmul::matmul;
use crate::online_softmax::OnlineSoftmax;
use crate::tiling::{
    Tile, Visibility, block_visibility, head_rows_mut, heads, heads_mut, mask_future_keys, tiles,
};
use crate::{AttentionError, FlashAttention, Float, Parallelism};

/// The attention output and what the backward pass needs from the forward pass besides its
/// inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardOutput<F> {
    /// softmax(Q Kᵀ / √D) V, shape (B, H, N, D).
    pub o: Array4<F>,
    /// L_i = m_i + ln l_i, the log-sum-exp of the scores of query row i, shape (B, H, N).
    pub lse: Array3<F>,
}

/// One query tile of one head: the unit of work, and of parallelism.
struct QueryTileTask<'a, F> {
    rows: Tile,
    q: ArrayView2<'a, F>,
    k: ArrayView2<'a, F>,
    v: ArrayView2<'a, F>,
    o: ArrayViewMut2<'a, F>,
    lse: ArrayViewMut1<'a, F>,
}

/// Per-worker buffers, reused across tiles.
struct Scratch<F> {
    scores: Array2<F>,
    softmax: OnlineSoftmax<F>,
}

impl<F: Float> Scratch<F> {
    fn new(tile: usize) -> Self {
        Self {
            scores: Array2::zeros((tile, tile)),
            softmax: OnlineSoftmax::with_capacity(tile),
        }
    }
}

pub(crate) fn forward<F: Float>(
    config: &FlashAttention,
    q: ArrayView4<F>,
    k: ArrayView4<F>,
    v: ArrayView4<F>,
) -> Result<ForwardOutput<F>, AttentionError> {
    check_shapes(q.shape(), &[("k", k.shape()), ("v", v.shape())])?;
    let (batch, heads_per_batch, n, d) = q.dim();
    let tile = config.checked_tile(n, d)?;
    let mut o = Array4::zeros(q.raw_dim());
    let mut lse = Array3::zeros((batch, heads_per_batch, n));

    let head_inputs = heads(q).zip(heads(k)).zip(heads(v));
    let head_outputs = heads_mut(o.view_mut()).zip(head_rows_mut(lse.view_mut()));
    let tasks: Vec<QueryTileTask<F>> = head_inputs
        .zip(head_outputs)
        .flat_map(|(((q, k), v), (o, lse))| {
            let o_tiles = o.into_axis_chunks_iter_mut(ndarray::Axis(0), tile);
            let lse_tiles = lse.into_axis_chunks_iter_mut(ndarray::Axis(0), tile);
            tiles(n, tile)
                .zip(o_tiles)
                .zip(lse_tiles)
                .map(move |((rows, o), lse)| QueryTileTask {
                    rows,
                    q: q.slice_move(s![rows.range(), ..]),
                    k,
                    v,
                    o,
                    lse,
                })
        })
        .collect();

    let scale = F::from_f64(1.0 / (d as f64).sqrt());
    let run = |scratch: &mut Scratch<F>, task: QueryTileTask<F>| {
        forward_query_tile(task, tile, config.causal, scale, scratch)
    };
    match config.parallelism {
        Parallelism::Sequential => {
            let mut scratch = Scratch::new(tile);
            tasks.into_iter().for_each(|task| run(&mut scratch, task));
        }
        Parallelism::Rayon => tasks
            .into_par_iter()
            .for_each_init(|| Scratch::new(tile), run),
    }
    Ok(ForwardOutput { o, lse })
}

/// Runs the online softmax of one query tile over the key tiles it can see, in ascending order.
fn forward_query_tile<F: Float>(
    mut task: QueryTileTask<F>,
    tile: usize,
    causal: bool,
    scale: F,
    scratch: &mut Scratch<F>,
) {
    let n = task.k.nrows();
    scratch.softmax.reset(task.rows.len());
    for keys in tiles(n, tile) {
        let visibility = block_visibility(task.rows, keys, causal);
        if visibility == Visibility::Hidden {
            // Key tiles ascend, so every later one is hidden too.
            break;
        }
        let mut scores = scratch
            .scores
            .slice_mut(s![..task.rows.len(), ..keys.len()]);
        // S = Q_tile K_tileᵀ / √D
        matmul(
            scale,
            &task.q,
            &task.k.slice(s![keys.range(), ..]).t(),
            F::zero(),
            &mut scores,
        );
        if visibility == Visibility::Partial {
            mask_future_keys(&mut scores, task.rows, keys);
        }
        scratch.softmax.absorb(scores.view_mut(), task.o.view_mut());
        // O += P V_tile
        matmul(
            F::one(),
            &scores,
            &task.v.slice(s![keys.range(), ..]),
            F::one(),
            &mut task.o,
        );
    }
    scratch.softmax.finish(task.o, task.lse);
}
