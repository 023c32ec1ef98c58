//! Tiny position-free transformer language model, shared by the `beam_search` and `dflash_verify`
//! references and mirrored line for line by the NumPy twin in `py/tiny_lm.py`.
//!
//! * [`LanguageModel`] is the interface the searches use: logits for a token sequence under an
//!   arbitrary boolean attention mask, plus causal next-token conveniences. Graders plug scripted
//!   models in through it.
//! * [`TinyLm`] is the random-weight target: vocab 1000, d_model 64, one pre-norm transformer
//!   block, no position encoding.
//! * [`log_softmax`] and [`argmax`] are the two reductions every consumer of logits needs, written
//!   once so that the searches and their tests break ties the same way.

#![warn(missing_docs)]

mod language_model;
mod logits;
mod model;

pub use language_model::{LanguageModel, ModelError, causal_mask};
pub use logits::{argmax, log_softmax};
pub use model::{D_FF, D_MODEL, HEAD_DIM, N_HEADS, RMS_NORM_EPS, TinyLm, VOCAB_SIZE};
