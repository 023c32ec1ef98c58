//! Grader for `flash_attention_bwd`: the tiled backward pass of attention, recomputing the
//! probabilities from the forward pass's log-sum-exp.
//!
//! Every criterion is a check over [`ForwardBackward`], the prompt's contract
//! `flash_attention_fwd(Q, K, V, tile_size, causal) → (O, cache)` and
//! `flash_attention_bwd(dO, cache, tile_size, causal) → (dQ, dK, dV)`, implemented twice: by our
//! Rust reference ([`candidate::Reference`]) and by a Python submission through the sandboxed
//! bridge ([`candidate::Python`]). The cache makes the round trip the prompt describes: what the
//! forward returned is passed, unchanged, to the backward. Expected values come from the
//! reference crate's naive attention and its backward (the full softmax matrix), computed in
//! this process and never written where a submission can read.
//!
//! The trap: the prompt's step 2e subtracts `rowsum(P * dP)` of ONE key tile, which is the
//! softmax gradient's D_i = Σ_j P_ij dP_ij only when one key tile covers the whole row.
//! [`ids::WHOLE_ROW_D`] has only cases where several key tiles do, and says so when a
//! submission's dQ and dK are exactly the literal step 2e's.

#![warn(missing_docs)]

mod candidate;
mod cases;
mod checks;
mod per_tile_rowsum;

use std::time::Duration;

use judge_core::{ChallengeId, Criterion, GradeContext, Scorecard};
use judge_submission::{PythonContract, PythonGrader, Session};

pub use candidate::{Backward, CachedArray, Forward, ForwardBackward};

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    /// The forward's O against naive attention, on ragged tiles, N < T, N = 1 and the batched
    /// prompt shape, causal and not: the minimal forward the prompt requires must be right.
    pub const OUTPUT: &str = "output_matches_naive";
    /// `cache['L']`, of shape (B, H, N), equals the naive log-sum-exp m + log(l): the backward
    /// recomputes P from it, so an L of the wrong form (m alone, log l alone) breaks it.
    pub const LSE: &str = "lse_matches_naive";
    /// The cache holds no N×N array, nor tiles of P or S adding up to a quarter of one: the
    /// prompt's "MUST NOT store the full (N, N) attention matrix".
    pub const CACHE: &str = "cache_holds_no_nxn";
    /// dQ, dK, dV through the forward's own cache within 1e-4 of the naive backward, causal,
    /// on the prompt's Test 2 shape, ragged tiles, N < T and N = 1 (weight 2).
    pub const GRADIENTS_CAUSAL: &str = "gradients_causal";
    /// The same, non-causal (weight 2).
    pub const GRADIENTS_NON_CAUSAL: &str = "gradients_non_causal";
    /// Several KV tiles per Q tile and several Q tiles per KV tile: an overwritten dQ keeps
    /// only the last KV tile's share, an overwritten dK or dV only the last Q tile's.
    pub const ACCUMULATES: &str = "accumulates_across_kv_tiles";
    /// The prompt's own trap: step 2e's rowsum(P∘dP) over one key tile is D_i only when one
    /// tile covers the row; every case here has several, and the evidence says when dQ and dK
    /// are exactly the literal step 2e's.
    pub const WHOLE_ROW_D: &str = "whole_row_d_term";
    /// The prompt's Test 3 for the forward (N = 4096, T = 128): tracemalloc peak beyond O and
    /// L under 20% of one N×N matrix, corroborated from outside, with a correct output.
    pub const MEMORY_FORWARD: &str = "forward_no_nxn_traced";
    /// The same for the backward, beyond dQ, dK and dV: recomputing P per tile, not
    /// materialising it.
    pub const MEMORY_BACKWARD: &str = "backward_no_nxn_traced";
    /// Forward then backward at N = 8192 in one worker under a 512 MiB address-space cap, the
    /// size of one N×N float64 matrix, with correct results: memory tracemalloc cannot be
    /// hidden from.
    pub const MEMORY_ENFORCED: &str = "no_nxn_enforced";
    /// Manual: the prompt's Test 1, all of dV and 10 dQ/dK entries against central finite
    /// differences.
    pub const FINITE_DIFFERENCES: &str = "finite_difference_test";
}

/// The contract functions the prompt names.
const FORWARD: &str = "flash_attention_fwd";
const BACKWARD: &str = "flash_attention_bwd";

/// The `flash_attention_bwd` grader.
#[derive(Debug, Default)]
pub struct FlashAttentionBwdGrader;

judge_submission::python_challenge!(FlashAttentionBwdGrader);

impl PythonGrader for FlashAttentionBwdGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::FlashAttentionBwd
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn own_criteria(&self) -> Vec<Criterion> {
        use ids::*;
        vec![
            Criterion::auto(OUTPUT, "forward output O matches naive attention"),
            Criterion::auto(LSE, "cache['L'] (B, H, N) equals the naive log-sum-exp"),
            Criterion::auto(CACHE, "the cache holds no N×N array"),
            Criterion::auto(
                GRADIENTS_CAUSAL,
                "dQ, dK, dV match the naive backward, causal (rel err ≤ 1e-4)",
            )
            .with_weight(2),
            Criterion::auto(
                GRADIENTS_NON_CAUSAL,
                "dQ, dK, dV match the naive backward, non-causal",
            )
            .with_weight(2),
            Criterion::auto(
                ACCUMULATES,
                "gradients accumulate over several KV tiles per Q tile",
            ),
            Criterion::auto(
                WHOLE_ROW_D,
                "D_i is the whole-row rowsum(dO∘O), not one key tile's rowsum(P∘dP)",
            ),
            Criterion::auto(
                MEMORY_FORWARD,
                "forward traced peak < 20% of one N×N matrix (N=4096, T=128)",
            ),
            Criterion::auto(
                MEMORY_BACKWARD,
                "backward traced peak < 20% of one N×N matrix (N=4096, T=128)",
            ),
            Criterion::auto(
                MEMORY_ENFORCED,
                "forward + backward at N=8192 under an address-space cap an N×N matrix exceeds",
            ),
            Criterion::manual(
                FINITE_DIFFERENCES,
                "Test 1 checks all of dV and 10 dQ/dK entries against central differences",
            ),
        ]
    }

    fn contract(&self) -> PythonContract {
        PythonContract::new(
            ChallengeId::FlashAttentionBwd,
            &[BACKWARD, FORWARD],
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
