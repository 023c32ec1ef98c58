//! Grader for `backwards`: LayerNorm forward and its hand-derived backward pass.
//!
//! Every criterion is a check over [`LayerNorm`], the contract
//! `layer_norm_forward(x, gamma, beta, eps) -> (y, cache)` and
//! `layer_norm_backward(dy, cache) -> (dx, dgamma, dbeta)`, implemented twice: by the Rust
//! reference crate `layernorm` ([`candidate::Reference`]) and by a Python submission through
//! the sandboxed bridge ([`candidate::Python`]). Expected values come from the reference (f64,
//! two-pass variance) in this process and are never written where a submission can read.
//!
//! The criteria are kept orthogonal, so that one bug costs one criterion where it can: the
//! four accuracy criteria check one output each (y, dx, dγ, dβ); the two stability criteria
//! and the float32 one check y and dx, the outputs through which the variance and ε act.

mod candidate;
mod cases;
mod checks;

use std::path::Path;
use std::time::Duration;

use judge_core::{Challenge, ChallengeId, Criterion, GradeContext, Graded};
use judge_submission::{PythonContract, grade_python};

pub use candidate::{Grads, LayerNorm, Outputs};

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    pub const FORWARD: &str = "forward_y";
    pub const GRAD_X: &str = "grad_x";
    pub const GRAD_GAMMA: &str = "grad_gamma";
    pub const GRAD_BETA: &str = "grad_beta";
    pub const LARGE_OFFSET: &str = "stable_large_offset";
    pub const CONSTANT_ROWS: &str = "stable_constant_rows";
    pub const FLOAT32: &str = "float32_inputs";
    pub const EXPLAINS_COMPLEXITY: &str = "analyzes_complexity";
    pub const EXPLAINS_FUSION: &str = "gpu_fusion_plan";
    pub const EXPLAINS_STABILITY: &str = "discusses_stability";
}

/// The contract's function names, and the renamings accepted in their place. Each pair is
/// taken whole (a forward and the backward of the same naming), so no name is guessed alone.
pub const ENTRY_PAIRS: [(&str, &str); 4] = [
    ("layer_norm_forward", "layer_norm_backward"),
    ("layernorm_forward", "layernorm_backward"),
    ("layer_norm_fwd", "layer_norm_bwd"),
    ("layernorm_fwd", "layernorm_bwd"),
];

/// The `backwards` grader.
#[derive(Debug, Default)]
pub struct BackwardsGrader;

impl Challenge for BackwardsGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::Backwards
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn criteria(&self) -> Vec<Criterion> {
        use ids::*;
        vec![
            Criterion::auto(
                FORWARD,
                "forward y matches (rel err ≤ 1e-6, f64; T=1, large D)",
            ),
            Criterion::auto(GRAD_X, "dx matches (rel err ≤ 1e-6, f64)").with_weight(2),
            Criterion::auto(GRAD_GAMMA, "dgamma matches: summed over B and T"),
            Criterion::auto(GRAD_BETA, "dbeta matches: summed over B and T"),
            Criterion::auto(
                LARGE_OFFSET,
                "y and dx accurate with a large common offset (|μ|/σ ≥ 1e6)",
            ),
            Criterion::auto(
                CONSTANT_ROWS,
                "y and dx finite and accurate for constant and near-constant rows, D = 1",
            ),
            Criterion::auto(FLOAT32, "float32 inputs: y and dx within 1e-4"),
            judge_submission::no_frameworks_criterion(),
            judge_submission::self_test_criterion(),
            Criterion::manual(EXPLAINS_COMPLEXITY, "time and memory complexity analysis"),
            Criterion::manual(EXPLAINS_FUSION, "plan for fusing into a single GPU kernel"),
            Criterion::manual(
                EXPLAINS_STABILITY,
                "discusses where instability occurs (variance cancellation, ε)",
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
            names: ENTRY_PAIRS.iter().flat_map(|&(f, b)| [f, b]).collect(),
            // Checked here instead, so that any one complete pair will do.
            required: Vec::new(),
            fixtures: Vec::new(),
            call_timeout: Duration::from_secs(60),
            self_test: judge_submission::SelfTestRule::TestFilesOrScripts,
        };
        let mut bound_names = None;
        let mut graded = grade_python(&contract, &self.criteria(), dir, ctx, |session, card| {
            match candidate::Python::bind(session) {
                Ok(mut python) => {
                    bound_names = Some(python.describe_binding());
                    checks::decide_all(&mut python, ctx.seed, card);
                }
                Err(missing) => {
                    for id in checks::OWN_AUTO_CRITERIA {
                        card.record(id, missing.clone(), 0.0);
                    }
                }
            }
        });
        if let Some(names) = bound_names {
            graded.notes.push(format!("called {names}"));
        }
        graded
    }
}
