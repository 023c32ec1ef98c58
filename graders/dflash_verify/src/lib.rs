//! Grader for `dflash_verify`: the tree attention mask and greedy acceptance of DFlash-style
//! speculative decoding.
//!
//! Every criterion is a check over [`TreeVerifier`], the prompt's contract
//! `build_tree_mask(prompt_len, tree_parents)` and `verify_and_accept(prompt_tokens,
//! tree_tokens, tree_parents, target_model, temperature)`, implemented twice: by the Rust
//! reference ([`candidate::Reference`]) and by a Python submission through the sandboxed bridge
//! ([`candidate::Python`]), whose target is a random-weight, position-free TinyLM served to it as
//! a remote fixture: each forward runs in the judge, which counts it, so "one forward per
//! verification" is a figure the submission cannot forge. The grader drives the generation loop itself (drafts come from this process, seeded),
//! so every criterion compares against autoregressive greedy decoding computed here.
//!
//! What a verification step may return is not unique: an implementation that stops at the
//! first mismatching node accepts less than one that tries the next sibling, and both are
//! right. So the golden criteria compare generated SEQUENCES; only the targeted cases, built so
//! that every right reading accepts the same path (right children come first), compare
//! `(accepted_tokens, new_token)` exactly.

#![warn(missing_docs)]

mod candidate;
mod cases;
mod checks;

use std::time::Duration;

use judge_core::{ChallengeId, Criterion, GradeContext, Scorecard};
use judge_submission::{PythonContract, PythonGrader, Session};

pub use candidate::{Target, TreeVerifier, Verification, allowed_positions};

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    /// `build_tree_mask` equals rules a)–e) exactly on random trees and prompt lengths 1–40:
    /// siblings and cousins must not see each other, ancestors must be followed transitively.
    pub const TREE_MASK: &str = "tree_mask";
    /// The prompt's golden test (weight 3): the grader-driven loop's sequence equals
    /// autoregressive greedy decoding on random trees mixing right and wrong tokens.
    pub const GOLDEN: &str = "golden_equals_greedy";
    /// The prompt's Test 1: prompt [10, 20, 30], three roots and no depth 2, the right token
    /// at any root or none; siblings of an accepted root are alternatives, not rejections.
    pub const THREE_ROOTS: &str = "three_roots_basic";
    /// The prompt's "most common bug" (weight 2): the descendants of a rejected node are
    /// skipped although each carries the target's greedy token after its own path.
    pub const SUBTREE: &str = "subtree_invalidation";
    /// After a rejection, `new_token` is the target's greedy token at the rejected position
    /// (the prompt's "take target_greedy_prediction instead"), though a child below the wrong
    /// node would match.
    pub const REPLACEMENT: &str = "replacement_token";
    /// The prompt's Test 3: at least three cycles, each cycle's output the next one's prompt,
    /// equal to greedy decoding.
    pub const MULTI_STEP: &str = "multi_step";
    /// Each `verify_and_accept` call makes exactly one target forward, counted by the judge
    /// on its remote target: verifying node by node, as autoregressive decoding does, fails.
    pub const ONE_FORWARD: &str = "one_forward_per_verification";
    /// Manual: the submission provides its own MinimalLM target (1 layer, ~64 dim, 1000
    /// vocab), as the prompt's setup asks; grading uses the judge's target instead.
    pub const MINIMAL_LM: &str = "minimal_lm";
}

/// The contract functions the prompt names.
const MASK_ENTRY: &str = "build_tree_mask";
const VERIFY_ENTRY: &str = "verify_and_accept";

/// The `dflash_verify` grader.
#[derive(Debug, Default)]
pub struct DflashVerifyGrader;

judge_submission::python_challenge!(DflashVerifyGrader);

impl PythonGrader for DflashVerifyGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::DflashVerify
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn own_criteria(&self) -> Vec<Criterion> {
        use ids::*;
        vec![
            Criterion::auto(
                TREE_MASK,
                "mask equals rules a)–e) on random trees (depth ≤ 5, branching ≤ 3, P 1–40)",
            ),
            Criterion::auto(
                GOLDEN,
                "speculative output equals autoregressive greedy output (random prompts, trees \
                 mixing right and wrong tokens)",
            )
            .with_weight(3),
            Criterion::auto(
                THREE_ROOTS,
                "Test 1: prompt [10, 20, 30], three roots, equals greedy",
            ),
            Criterion::auto(
                SUBTREE,
                "a rejected node's subtree is skipped although its children would match",
            )
            .with_weight(2),
            Criterion::auto(
                REPLACEMENT,
                "after a rejection, the target's greedy token replaces the draft's",
            ),
            Criterion::auto(
                MULTI_STEP,
                "≥ 3 cycles, each cycle's output the next one's prompt, equals greedy",
            ),
            Criterion::auto(
                ONE_FORWARD,
                "exactly one target forward per verify_and_accept call",
            ),
            Criterion::manual(
                MINIMAL_LM,
                "provides its own MinimalLM target (1 layer, ~64 dim, 1000 vocab)",
            ),
        ]
    }

    fn contract(&self) -> PythonContract {
        PythonContract::new(
            ChallengeId::DflashVerify,
            &[MASK_ENTRY, VERIFY_ENTRY],
            Duration::from_secs(60),
        )
    }

    fn decide_reference(&self, ctx: &GradeContext, card: &mut Scorecard) {
        checks::decide_all(&mut candidate::Reference, ctx.seed, card);
    }

    fn decide_submission(&self, session: &mut Session, ctx: &GradeContext, card: &mut Scorecard) {
        checks::decide_all(&mut candidate::Python::new(session), ctx.seed, card);
    }
}
