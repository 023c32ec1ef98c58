//! Grader for `flash_attention`: the tiled forward pass with online softmax.
//!
//! Every criterion is a check over [`Attention`], the prompt's contract
//! `flash_attention_fwd(Q, K, V, tile_size, causal)`, implemented twice: by our Rust reference
//! ([`candidate::Reference`]) and by a Python submission through the sandboxed bridge
//! ([`candidate::Python`]). Expected values come from the naive full-softmax attention of the
//! reference crate, computed in this process and never written where a submission can read.

#![warn(missing_docs)]

mod candidate;
mod cases;
mod checks;

use std::time::Duration;

use judge_core::{ChallengeId, Criterion, GradeContext, Scorecard};
use judge_submission::{PythonContract, PythonGrader, Session};

pub use candidate::{Attention, Inputs, Outcome};

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    /// Causal output within the prompt's 1e-4 of naive attention, on its test shape and a few
    /// batched ones with T dividing N (weight 2).
    pub const CAUSAL: &str = "matches_naive_causal";
    /// The same shapes without the causal mask (weight 2).
    pub const NON_CAUSAL: &str = "matches_naive_non_causal";
    /// T not dividing N, N smaller than T, and N = 1, causal and not: the last, short tile is
    /// where a loop over whole tiles drops or overruns rows.
    pub const RAGGED_TILES: &str = "ragged_tiles";
    /// float32 Q, K, V, causal and not, against naive attention on the same values.
    pub const FLOAT32: &str = "float32_inputs";
    /// Scores growing along the keys, so every key tile raises the running max: a wrong
    /// rescale factor (exp(m_new − m_old), or none) shows.
    pub const ONLINE_RESCALE: &str = "online_rescale";
    /// Scores near ±1e3: finite and correct only if every exponent is taken after
    /// subtracting the running max.
    pub const LARGE_SCORES: &str = "large_scores";
    /// Causal shapes whose diagonal tiles are partly masked and whose later key tiles are
    /// fully masked for a query tile's first rows: the m = −inf, l = 0 hazard the prompt asks
    /// about, where exp(−inf − (−inf)) gives NaN.
    pub const MASKED_TILES: &str = "fully_masked_tiles";
    /// The prompt's memory test (N = 4096, T = 128): the call's tracemalloc peak beyond its
    /// output under 20% of one N×N matrix, corroborated by memory measured outside the
    /// submission's code; only with a correct output.
    pub const MEMORY_TRACED: &str = "no_nxn_traced";
    /// N = 16384 under a 1 GiB address-space cap that one N×N matrix exceeds, with the
    /// correct output: a check tracemalloc cannot be fooled into passing.
    pub const MEMORY_ENFORCED: &str = "no_nxn_enforced";
    /// Manual: the comments explain why the factor is exp(m_old − m_new) and not its inverse.
    pub const EXPLAINS_RESCALE: &str = "explains_rescale";
    /// Manual: the comments explain m and l when a row's first key tile is fully masked, and
    /// why that is a stability hazard.
    pub const EXPLAINS_HAZARDS: &str = "explains_stability_hazards";
}

/// The contract function the prompt names.
const ENTRY: &str = "flash_attention_fwd";

/// The `flash_attention` grader.
#[derive(Debug, Default)]
pub struct FlashAttentionGrader;

judge_submission::python_challenge!(FlashAttentionGrader);

impl PythonGrader for FlashAttentionGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::FlashAttention
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn own_criteria(&self) -> Vec<Criterion> {
        use ids::*;
        vec![
            Criterion::auto(CAUSAL, "matches naive attention, causal (rel err ≤ 1e-4)")
                .with_weight(2),
            Criterion::auto(NON_CAUSAL, "matches naive attention, non-causal").with_weight(2),
            Criterion::auto(RAGGED_TILES, "tile not dividing N, N < tile, N = 1"),
            Criterion::auto(FLOAT32, "float32 inputs"),
            Criterion::auto(
                ONLINE_RESCALE,
                "rescales by exp(m_old − m_new) as the max grows",
            ),
            Criterion::auto(LARGE_SCORES, "finite and correct with scores near ±1e3"),
            Criterion::auto(
                MASKED_TILES,
                "finite and correct where causal tiles are (partly) masked",
            ),
            Criterion::auto(
                MEMORY_TRACED,
                "traced peak < 20% of one N×N matrix (N=4096, T=128)",
            ),
            Criterion::auto(
                MEMORY_ENFORCED,
                "runs N=16384 under an address-space cap an N×N matrix exceeds",
            ),
            Criterion::manual(
                EXPLAINS_RESCALE,
                "explains why the factor is exp(m_old − m_new)",
            ),
            Criterion::manual(
                EXPLAINS_HAZARDS,
                "explains the fully-masked first tile hazard",
            ),
        ]
    }

    fn contract(&self) -> PythonContract {
        PythonContract::new(
            ChallengeId::FlashAttention,
            &[ENTRY],
            Duration::from_secs(120),
        )
    }

    fn decide_reference(&self, ctx: &GradeContext, card: &mut Scorecard) {
        checks::decide_all(&mut candidate::Reference, ctx.seed, card);
    }

    fn decide_submission(&self, session: &mut Session, ctx: &GradeContext, card: &mut Scorecard) {
        checks::decide_all(&mut candidate::Python::new(session), ctx.seed, card);
    }
}
