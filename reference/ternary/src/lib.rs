//! Reference ternary trainer: a Qwen3-style decoder (GQA 2:1, SwiGLU, RMSNorm with per-head q/k
//! norms, RoPE, no biases) whose every linear map — embedding and LM head included — runs with
//! ternary weights `s·{−1, 0, +1}` (groups of 128, `s = mean|W|`), trained from scratch with the
//! straight-through estimator and AdamW on a byte-level corpus.
//!
//! - [`quant`]: the projection, its verification and the 2-bit packed format (reusable by a
//!   grader on weights saved by anyone).
//! - [`model`]: the decoder and its hand-written backward pass (checked against finite
//!   differences layer by layer and as a whole).
//! - [`optim`]: AdamW with decoupled weight decay, warm-up + cosine schedule, gradient clipping.
//! - [`data`], [`tokenizer`]: byte tokens, the positional train/validation split, the unigram
//!   baseline.
//! - [`mod@train`]: the training loop, evaluation, samples and the summary; [`run_small`].
//! - [`artifacts`]: the files a run leaves behind ([`artifacts::save_artifacts`]) and their
//!   readers.
//!
//! ```no_run
//! let corpus = std::fs::read_to_string("train_data.txt")?;
//! let summary = ternary::run_small(&corpus, 0, true)?;
//! println!("validation perplexity {:.2}, unigram {:.2}",
//!          summary.validation.perplexity, summary.unigram_perplexity);
//! ternary::artifacts::save_artifacts(&summary, std::path::Path::new("out"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Choices
//!
//! - **Group size 128**: the llama.cpp `Q2_0` / Ternary Bonsai block. One f16 scale per 128
//!   weights costs 0.125 bit per weight (2.125 bits in all); 256 would halve that overhead but
//!   make one scale serve twice as many, more varied weights, so more of them round to zero or
//!   clip.
//! - **`s = mean|W|`, not `max|W|`**: with the max, one outlier drives `|W/s|` of the rest of its
//!   group under 0.5 and the group collapses to zeros; the mean puts the thresholds at ±s/2 where
//!   about a third of Gaussian weights fall to 0 and all three levels are used.
//! - **Straight-through estimator**: the gradient of the projected weight is applied to the latent
//!   weight; `s` is a constant in backward. Weight decay (decoupled) acts on the latent weights
//!   only, not on the f32 norm gains.
//! - **Learning rate**: ternary training needs a larger rate than full precision (a latent weight
//!   must cross a rounding threshold before the forward pass changes): 4e-3 peak for the small
//!   model, 1.5e-3 for Path-B, 30/100 warm-up steps, cosine to a tenth.
//! - **Initialisation** `N(0, 1/fan_in)`, ternary from step 0; the embedding, whose input is one
//!   hot, uses unit variance.
//! - **Untied LM head** (as Qwen3-8B), so embedding and head are separate ternary layers.
//! - **Bytes** as tokens: see [`tokenizer`].

#![warn(missing_docs)]

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
pub use train::{
    TrainingConfig, TrainingSummary, WeightPrecision, run_small, train, train_with_precision,
};
