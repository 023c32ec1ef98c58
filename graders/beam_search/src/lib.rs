//! Grader for `beam_search`: batched beam search with EOS retention and a length penalty.
//!
//! Every criterion is a check over [`BeamSearch`], the prompt's contract
//! `batched_beam_search(prompts, beam_width, max_new_tokens, alpha, eos_token_id)` plus the
//! `model` parameter through which the grader supplies the language model. It is implemented
//! twice: by the Rust reference ([`candidate::Reference`]) and by a Python submission through the
//! sandboxed bridge ([`candidate::Python`]), which receives a NumPy twin of the same model (the
//! random-weight `TinyLM` or a `ScriptedLM` pinning down a trap's log-probs). Expected values are
//! computed in this process and never written where a submission can read them.
//!
//! Two readings of the prompt are accepted or avoided rather than decided (see the reference's
//! `search` module): the pool is ranked by the length-penalised score, which equals the prompt's
//! "total logprob" only at alpha = 0, so exact agreement on random models uses alpha = 0; and the
//! top-2K expansion cannot be observed (finished beams keep their slot, so the best K never hold
//! more than K candidates of one beam and top-K per beam selects the same), so it is a manual
//! criterion.

#![warn(missing_docs)]

mod candidate;
mod cases;
mod checks;

use std::time::Duration;

use judge_core::{ChallengeId, Criterion, GradeContext, Scorecard};
use judge_submission::{PythonContract, PythonGrader, Session};

pub use candidate::{BeamSearch, FixtureModel, Returned, Search, python_fixtures};

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    /// The prompt's Test 1: K = 1, alpha = 0 must be greedy decoding, argmax each step, and
    /// the single beam must stop when it emits EOS.
    pub const GREEDY: &str = "k1_equals_greedy";
    /// The prompt's Test 2: each item's result inside a batch (prompt lengths [3, 5], and a
    /// batch of three) equals its result alone, so beams of different prompts never mix.
    pub const INDEPENDENCE: &str = "batch_independence";
    /// The prompt's Test 3, the critical trap (weight 2): a beam finished at −3.0 must beat
    /// one that continues to −5.5; dropping finished beams from the pool lets the latter win.
    pub const EOS_RETENTION: &str = "eos_retention";
    /// The length penalty counts generated tokens only: on a scripted case the winner flips
    /// when the prompt's length is added to `generated_length`.
    pub const PROMPT_NOT_IN_LENGTH: &str = "prompt_not_in_length";
    /// Each returned score is the model's Σ log p over len(tokens)^alpha, and the list is best
    /// first by it; one case's order by score differs from its order by raw log-prob.
    pub const SORTED_SCORES: &str = "sorted_penalized_scores";
    /// At `max_new_tokens`, the best K of finished and unfinished beams together, by
    /// penalised score: alpha decides whether the finished or the unfinished one comes first.
    pub const CUT_OFF: &str = "max_new_tokens_cut_off";
    /// Log-probs near −1e4, and logits shifted by 1e4: multiplying probabilities underflows to
    /// 0 and loses the order, a softmax that does not subtract the maximum overflows.
    pub const LOG_SPACE: &str = "log_space_no_underflow";
    /// Tokens, and scores to 1e-9, equal the reference's on random TinyLM models at alpha = 0,
    /// with EOS a likely token so finished beams compete (weight 2).
    pub const MATCHES_REFERENCE: &str = "matches_reference";
    /// Manual: the comments the prompt asks for, explaining why finished beams stay in the
    /// pool.
    pub const EXPLAINS_RETENTION: &str = "explains_eos_retention";
    /// Manual: top-2K expansion per unfinished beam. Output cannot distinguish it from top-K
    /// (finished beams keep their slot), so only reading the code can.
    pub const TOP_2K: &str = "top_2k_expansion";
}

/// The contract function the prompt names.
const ENTRY: &str = "batched_beam_search";

/// The `beam_search` grader.
#[derive(Debug, Default)]
pub struct BeamSearchGrader;

judge_submission::python_challenge!(BeamSearchGrader);

impl PythonGrader for BeamSearchGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::BeamSearch
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn own_criteria(&self) -> Vec<Criterion> {
        use ids::*;
        vec![
            Criterion::auto(GREEDY, "K=1, alpha=0 equals greedy decoding"),
            Criterion::auto(
                INDEPENDENCE,
                "an item's result in a batch equals its result alone (prompt lengths differ)",
            ),
            Criterion::auto(
                EOS_RETENTION,
                "a finished beam at −3.0 beats a continuing beam at −5.0",
            )
            .with_weight(2),
            Criterion::auto(
                PROMPT_NOT_IN_LENGTH,
                "length penalty counts generated tokens only",
            ),
            Criterion::auto(
                SORTED_SCORES,
                "best first, score = Σ log p / len(generated)^alpha",
            ),
            Criterion::auto(
                CUT_OFF,
                "at max_new_tokens, the best K of finished + unfinished",
            ),
            Criterion::auto(
                LOG_SPACE,
                "log space: no underflow with log-probs near −1e4",
            ),
            Criterion::auto(
                MATCHES_REFERENCE,
                "tokens and scores (1e-9) equal the reference on random models, alpha = 0",
            )
            .with_weight(2),
            Criterion::manual(
                EXPLAINS_RETENTION,
                "comments explain why finished beams must not be removed from the pool",
            ),
            Criterion::manual(
                TOP_2K,
                "expands top-2K candidates per unfinished beam (read the code: output cannot \
                 tell it from top-K, since finished beams keep their slot)",
            ),
        ]
    }

    fn contract(&self) -> PythonContract {
        PythonContract::new(ChallengeId::BeamSearch, &[ENTRY], Duration::from_secs(120))
            .with_fixtures(candidate::python_fixtures())
    }

    fn decide_reference(&self, ctx: &GradeContext, card: &mut Scorecard) {
        checks::decide_all(&mut candidate::Reference, ctx.seed, card);
    }

    fn decide_submission(&self, session: &mut Session, ctx: &GradeContext, card: &mut Scorecard) {
        checks::decide_all(&mut candidate::Python::new(session), ctx.seed, card);
    }
}
