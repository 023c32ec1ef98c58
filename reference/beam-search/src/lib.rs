//! Reference batched beam search, as the `beam_search` prompt specifies it.
//!
//! * [`batched_beam_search`]: K beams per batch item, top-2K candidates per unfinished beam, one
//!   pool per item in which FINISHED beams keep competing, length penalty for ranking only.
//! * [`ScriptedModel`]: a [`tiny_lm::LanguageModel`] whose next-token logits are looked up from
//!   a script — the test and grader fixture for the prompt's traps (EOS retention, prompt counted
//!   in the length). Its NumPy twin is `py/scripted_lm.py`.
//! * [`cases`]: the prompt's traps as ready-made scripted cases for tests and graders.

#![warn(missing_docs)]

pub mod cases;
mod scripted;
mod search;

pub use scripted::{ScriptError, ScriptedModel, next_token_distribution};
pub use search::{BeamError, Hypothesis, batched_beam_search, length_penalized_score};
