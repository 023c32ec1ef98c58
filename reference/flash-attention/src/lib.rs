//! Tiled (flash) attention: forward and backward with online softmax, never holding an N × N
//! matrix.
//!
//! Attention of one head, with queries Q, keys K, values V (each N × D) and s = 1/√D:
//!
//! ```text
//! S = s · Q Kᵀ,   P = softmax(S) row-wise,   O = P V,   L_i = log Σ_j exp(S_ij)
//! ```
//!
//! (with S_ij = −∞ for j > i under the causal mask).
//!
//! - [`FlashAttention::forward`] computes O and L one T × T block of S at a time with the
//!   online-softmax recurrence; [`online_softmax`] explains it, why its rescaling factor is
//!   exp(m_old − m_new), and the NaN hazard of a fully masked first key tile.
//! - [`FlashAttention::backward`] recomputes each block of P from L; [`backward`] explains the
//!   gradient, and why D_i = Σ_j P_ij dP_ij must be summed over the whole row (D_i = dO_i · O_i),
//!   which the prompt's per-tile rowsum gets wrong.
//! - [`naive`] is the full-matrix version, for expected values of small cases.
//! - Neither tiled pass allocates anything N × N: the extra memory is O(T² + N) per worker
//!   (plus an N × D dQ buffer per extra backward worker of a head).
//!
//! ```
//! use flash_attention::FlashAttention;
//! use ndarray::Array4;
//!
//! let q = Array4::from_shape_fn((1, 2, 5, 4), |(_, h, i, d)| (h + i * d) as f64 * 0.1);
//! let (k, v, d_o) = (q.clone(), q.clone(), q.clone());
//! let attention = FlashAttention::new(2, true);
//! let out = attention.forward(q.view(), k.view(), v.view())?;
//! let grads =
//!     attention.backward(d_o.view(), q.view(), k.view(), v.view(), out.o.view(), out.lse.view())?;
//! let expected = flash_attention::naive::attention(q.view(), k.view(), v.view(), true)?;
//! assert!(out.o.abs_diff_eq(&expected.o, 1e-12));
//! assert_eq!(grads.dq.shape(), &[1, 2, 5, 4]);
//! # Ok::<(), flash_attention::AttentionError>(())
//! ```

#![warn(missing_docs)]

pub mod backward;
mod error;
mod exp;
mod float;
pub mod forward;
pub mod matmul;
pub mod naive;
pub mod online_softmax;
mod rowwise;
mod simd;
mod tiling;

use ndarray::{ArrayView3, ArrayView4};

pub use backward::Gradients;
pub use error::AttentionError;
pub use float::Float;
pub use forward::ForwardOutput;

/// How the work of one call is spread over threads. The results are the same either way
/// (bit for bit, except for the summation order of dQ in the backward pass).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// Everything on the calling thread.
    #[default]
    Sequential,
    /// On the current rayon pool (the global one, or the pool of an enclosing
    /// `ThreadPool::install`, which is how to choose the thread count). The forward pass splits
    /// over (head, query tile); the backward pass over heads and, when there are fewer heads
    /// than threads, over key tiles of a head, with one extra N × D dQ buffer per extra worker.
    Rayon,
}

/// Tiled attention with tile size T (for both query and key tiles) and optional causal mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlashAttention {
    /// Rows per query tile and per key tile. Need not divide N; a tile larger than N is cut to N.
    pub tile: usize,
    /// Hide key j from query i when j > i.
    pub causal: bool,
    /// Whether one call runs on the calling thread or on the rayon pool.
    pub parallelism: Parallelism,
}

impl FlashAttention {
    /// Sequential attention with tile size `tile`.
    pub fn new(tile: usize, causal: bool) -> Self {
        Self {
            tile,
            causal,
            parallelism: Parallelism::Sequential,
        }
    }

    /// The same attention with the work spread as `parallelism` says.
    pub fn with_parallelism(self, parallelism: Parallelism) -> Self {
        Self {
            parallelism,
            ..self
        }
    }

    /// O and L of attention over inputs of shape (B, H, N, D), any memory layout.
    pub fn forward<F: Float>(
        &self,
        q: ArrayView4<F>,
        k: ArrayView4<F>,
        v: ArrayView4<F>,
    ) -> Result<ForwardOutput<F>, AttentionError> {
        forward::forward(self, q, k, v)
    }

    /// dQ, dK, dV given the upstream gradient `d_o` = ∂loss/∂O, the inputs, and the forward
    /// pass's O (B, H, N, D) and L (B, H, N).
    pub fn backward<F: Float>(
        &self,
        d_o: ArrayView4<F>,
        q: ArrayView4<F>,
        k: ArrayView4<F>,
        v: ArrayView4<F>,
        o: ArrayView4<F>,
        lse: ArrayView3<F>,
    ) -> Result<Gradients<F>, AttentionError> {
        backward::backward(self, d_o, q, k, v, o, lse)
    }

    /// The tile size to use for sequences of length `n`: T, cut to n so that scratch buffers
    /// never exceed the scores a call can have.
    fn checked_tile(&self, n: usize, d: usize) -> Result<usize, AttentionError> {
        if self.tile == 0 {
            return Err(AttentionError::ZeroTile);
        }
        if d == 0 {
            return Err(AttentionError::EmptyHeadDim);
        }
        Ok(self.tile.min(n.max(1)))
    }
}
