//! Grader for `flash_attention`: the tiled forward pass with online softmax.
//!
//! Every criterion is a check over [`Attention`], the prompt's contract
//! `flash_attention_fwd(Q, K, V, tile_size, causal)`, implemented twice: by our Rust reference
//! ([`candidate::Reference`]) and by a Python submission through the sandboxed bridge
//! ([`candidate::Python`]). Expected values come from the naive full-softmax attention of the
//! reference crate, computed in this process and never written where a submission can read.

mod candidate;
mod cases;
mod checks;

use std::time::Duration;

use judge_core::{ChallengeId, Criterion, GradeContext, Scorecard};
use judge_submission::{PythonContract, PythonGrader, Session};

pub use candidate::{Attention, Inputs, Outcome};

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    pub const CAUSAL: &str = "matches_naive_causal";
    pub const NON_CAUSAL: &str = "matches_naive_non_causal";
    pub const RAGGED_TILES: &str = "ragged_tiles";
    pub const FLOAT32: &str = "float32_inputs";
    pub const ONLINE_RESCALE: &str = "online_rescale";
    pub const LARGE_SCORES: &str = "large_scores";
    pub const MASKED_TILES: &str = "fully_masked_tiles";
    pub const MEMORY_TRACED: &str = "no_nxn_traced";
    pub const MEMORY_ENFORCED: &str = "no_nxn_enforced";
    pub const EXPLAINS_RESCALE: &str = "explains_rescale";
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
