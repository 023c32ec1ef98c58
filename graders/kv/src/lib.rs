//! Grader for `kv`: a KV cache for batched, variable-length incremental decoding.
//!
//! Every criterion is a check over [`KvCandidate`], the contract of
//! prompts/kv.interface.md — `KVCache(batch_size, num_heads, head_dim, max_len)` with
//! `append(seq_ids, k, v)` (one new token per listed sequence) and `attend(seq_ids, q)` —
//! implemented twice: by the reference crate `kv-cache` ([`candidate::Reference`], its paged
//! layout) and by a Python submission through the sandboxed bridge ([`candidate::Python`]).
//! Expected outputs come from the reference's naive causal attention, recomputed from scratch
//! over each whole sequence, in this process.
//!
//! Long decodes (the memory and the 4096-token criteria) run inside the worker, driven by the
//! grader's fixture `py/kv_probe.py`, so that thousands of steps cost no bridge round trips
//! and tracemalloc can be read between steps.

#![warn(missing_docs)]

mod candidate;
mod cases;
mod checks;

use std::time::Duration;

use judge_core::{ChallengeId, Criterion, GradeContext, Scorecard};
use judge_submission::{PythonContract, PythonGrader, Session};

pub use candidate::{DecodeRun, KvCandidate, StepInputs};

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    /// Every step of a batch of four sequences of different lengths, in scattered slots and
    /// starting at different steps, equals causal attention recomputed from scratch (weight 2):
    /// the prompt's "batching with variable sequence lengths".
    pub const MATCHES: &str = "matches_full_recompute";
    /// A sequence's outputs in the batch equal its outputs decoded alone by the same
    /// candidate: attending over a neighbour's tokens, or a padded length, shows.
    pub const CROSS_TALK: &str = "no_cross_talk";
    /// H = 8 heads whose queries differ in sharpness: a cache that mixes up heads, or attends
    /// over their concatenation, cannot agree.
    pub const MULTI_HEAD: &str = "multi_head";
    /// Each token's k and v are supplied once, and the first tokens dominate every later
    /// step's attention: a step must use the past the cache kept (the prompt's requirement 2).
    pub const CACHED_PAST: &str = "uses_cached_past";
    /// Over a 1024-token decode, the bytes held stay within 3× the tokens' own 2·n·H·t·d·8
    /// and a step allocates under 10% of the cache: copying or re-concatenating the cache each
    /// step fails. Tracemalloc's figures, corroborated by memory measured outside the
    /// submission's code.
    pub const MEMORY: &str = "memory_linear";
    /// 4096 tokens for each of 2 sequences decode within 30 s, with correct outputs: per-step
    /// work that grows faster than the cache (recomputing the past) does not finish.
    pub const LONG_RUN: &str = "long_run_4096";
    /// Manual: the analysis of memory growth over long sequences the prompt asks for.
    pub const EXPLAINS_MEMORY: &str = "memory_growth_analysis";
    /// Manual: at least two optimizations proposed (paging, chunking, compression…).
    pub const OPTIMIZATIONS: &str = "two_optimizations";
    /// Manual: how the cache and its attention map to GPU execution.
    pub const GPU_MAPPING: &str = "gpu_mapping";
}

/// The class the contract names.
const ENTRY: &str = "KVCache";

/// The grader's Python fixture that drives long decodes inside the worker.
const PROBE_MODULE: &str = "kv_probe";
const PROBE_SOURCE: &str = include_str!("../py/kv_probe.py");

/// The `kv` grader.
#[derive(Debug, Default)]
pub struct KvGrader;

judge_submission::python_challenge!(KvGrader);

impl PythonGrader for KvGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::Kv
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn own_criteria(&self) -> Vec<Criterion> {
        use ids::*;
        vec![
            Criterion::auto(
                MATCHES,
                "each step equals causal attention recomputed from scratch (rel err ≤ 1e-9), \
                 batch of different lengths and start times",
            )
            .with_weight(2),
            Criterion::auto(
                CROSS_TALK,
                "a sequence's outputs in the batch equal its outputs decoded alone",
            ),
            Criterion::auto(MULTI_HEAD, "H = 8 heads of different sharpness"),
            Criterion::auto(
                CACHED_PAST,
                "past tokens' k/v, supplied once, still shape every later step",
            ),
            Criterion::auto(
                MEMORY,
                "held bytes ≤ 3× 2·n·H·t·d·8, a step allocates < 10% of the cache",
            ),
            Criterion::auto(LONG_RUN, "4096 tokens × 2 sequences decode within 30 s"),
            Criterion::manual(
                EXPLAINS_MEMORY,
                "analyses memory growth over long sequences",
            ),
            Criterion::manual(
                OPTIMIZATIONS,
                "proposes two optimizations (paging, chunking, compression…)",
            ),
            Criterion::manual(GPU_MAPPING, "explains the mapping to GPU execution"),
        ]
    }

    fn contract(&self) -> PythonContract {
        PythonContract::new(ChallengeId::Kv, &[ENTRY], Duration::from_secs(120))
            .with_fixtures(vec![(PROBE_MODULE.to_string(), PROBE_SOURCE.to_string())])
    }

    fn decide_reference(&self, ctx: &GradeContext, card: &mut Scorecard) {
        checks::decide_all(&mut candidate::Reference::default(), ctx.seed, card);
    }

    fn decide_submission(&self, session: &mut Session, ctx: &GradeContext, card: &mut Scorecard) {
        checks::decide_all(&mut candidate::Python::new(session), ctx.seed, card);
    }
}
