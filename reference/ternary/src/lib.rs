//! Reference ternary trainer: a Qwen3-style decoder (GQA 2:1, SwiGLU, RMSNorm with per-head q/k
//! norms, RoPE, no biases) whose every linear map — embedding and LM head included — runs with
//! ternary weights `s·{−1, 0, +1}` (groups of 128, `s = mean|W|`), trained from scratch with the
//! straight-through estimator and AdamW on a byte-level corpus.
//!
//! - [`quant`]: the projection, its verification and the 2-bit packed format (reusable by a
//!   grader on weights saved by anyone).
//! - [`model`]: the decoder and its hand-written backward pass.
//! - [`train`]: the training loop, evaluation and the summary; [`train::run_small`].
//! - [`artifacts`]: the files a run leaves behind and their readers.

pub mod artifacts;
pub mod data;
pub mod error;
pub mod generate;
pub(crate) mod layers;
pub mod model;
pub mod optim;
pub mod quant;
pub mod tokenizer;
pub mod train;

pub use error::TernaryError;
pub use train::{TrainingConfig, TrainingSummary, run_small, train};
