//! Fused softmax + top-k, the reference of the `fuse` challenge.
//!
//! Given logits `[rows, vocab]` (the prompt's `[B, T, V]` flattened), return per row the k
//! most probable columns and their softmax probabilities, best first — without ever holding
//! the softmax row.
//!
//! - [`streaming`]: the one-pass CPU algorithm — online softmax ([`online_softmax`]) fused with
//!   an exact bounded top-k ([`top_k`]); O(k) state per row, each logit read once.
//! - [`naive`]: full softmax then sort, the independent check.
//! - [`cases`]: random rows and one row per trap (−inf, equal logits, ±1e4, …).
//! - [`timing`]: statistics, stopping rule, speed-of-light floor and flag of the timing protocol.
//! - [`cuda`]: the same algorithm as a CUDA kernel (sources under `cuda/`), compiled to PTX by
//!   NVRTC or `nvcc` and launched through `cudarc`; absent GPUs and compilers are typed errors.
//!
//! Conventions shared by every implementation (CPU, CUDA, and what the grader asks of
//! submissions): ties go to the lower index; −inf logits have probability 0; a row that is all
//! −inf gets uniform probabilities 1/vocab over columns 0..k; NaN and +inf are rejected by the
//! CPU reference (the kernel leaves them undefined).

#![warn(missing_docs)]

pub mod cases;
pub mod cuda;
pub mod error;
pub mod naive;
pub mod online_softmax;
pub mod output;
pub mod streaming;
pub mod timing;
pub mod top_k;

pub use error::FuseError;
pub use naive::naive_softmax_topk;
pub use output::{Mismatch, TopK};
pub use streaming::{fused_softmax_topk, fused_softmax_topk_row};
