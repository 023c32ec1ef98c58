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

use std::path::Path;
use std::time::Duration;

use judge_core::{Challenge, ChallengeId, Criterion, GradeContext, Graded};
use judge_submission::{PythonContract, grade_python};

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

impl Challenge for FlashAttentionGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::FlashAttention
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn criteria(&self) -> Vec<Criterion> {
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
            judge_submission::no_frameworks_criterion(),
            judge_submission::self_test_criterion(),
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

    fn grade_reference(&self, ctx: &GradeContext) -> Graded {
        judge_submission::grade_reference(&self.criteria(), |card| {
            checks::decide_all(&mut candidate::Reference, ctx.seed, card);
        })
    }

    fn grade_submission(&self, dir: &Path, ctx: &GradeContext) -> Graded {
        let contract = PythonContract {
            challenge: self.id(),
            names: vec![ENTRY],
            required: vec![ENTRY],
            fixtures: Vec::new(),
            call_timeout: Duration::from_secs(120),
            self_test: judge_submission::SelfTestRule::TestFilesOrScripts,
        };
        grade_python(&contract, &self.criteria(), dir, ctx, |session, card| {
            let mut python = candidate::Python::new(session);
            checks::decide_all(&mut python, ctx.seed, card);
        })
    }
}
