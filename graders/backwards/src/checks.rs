//! The criteria, each a function of a candidate. Expected values come from the reference crate
//! (f64, two-pass variance) on exactly the numbers the candidate received.

use judge_core::seed::for_criterion;
use judge_core::{Scorecard, Verdict};
use judge_submission::compare::{describe_error, max_relative_error};
use layernorm::{layer_norm_backward, layer_norm_forward};
use ndarray::ArrayD;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::candidate::{Dtype, EPS, Inputs, LayerNorm, Outputs};
use crate::cases::{self, Case};
use crate::ids;

/// The bound on the relative error of every output, f64 inputs.
const TOLERANCE: f64 = 1e-6;
/// The bound for float32 inputs (f32 carries about 7 digits).
const FLOAT32_TOLERANCE: f64 = 1e-4;

/// The auto criteria this crate decides (the shared ones are decided by `grade_python`).
pub const OWN_AUTO_CRITERIA: [&str; 7] = [
    ids::FORWARD,
    ids::GRAD_X,
    ids::GRAD_GAMMA,
    ids::GRAD_BETA,
    ids::LARGE_OFFSET,
    ids::CONSTANT_ROWS,
    ids::FLOAT32,
];

/// One output of the contract.
#[derive(Debug, Clone, Copy)]
enum Output {
    Y,
    Dx,
    Dgamma,
    Dbeta,
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Y => "y",
            Output::Dx => "dx",
            Output::Dgamma => "dgamma",
            Output::Dbeta => "dbeta",
        }
    }

    /// This output of a run; a failed backward is the verdict of every gradient.
    fn of(self, outputs: &Outputs) -> Result<&ArrayD<f64>, Verdict> {
        let grads = || outputs.grads.as_ref().map_err(Clone::clone);
        Ok(match self {
            Output::Y => &outputs.y,
            Output::Dx => &grads()?.dx,
            Output::Dgamma => &grads()?.dgamma,
            Output::Dbeta => &grads()?.dbeta,
        })
    }
}

/// What the reference computes from the same numbers, in f64.
fn expected(inputs: &Inputs) -> Outputs {
    let x = inputs.x.view();
    let (y, cache) = layer_norm_forward(x, inputs.gamma.view(), inputs.beta.view(), EPS)
        .expect("hidden cases have valid shapes");
    let grads = layer_norm_backward(inputs.dy.view(), &cache).expect("dy has x's shape");
    Outputs {
        y: y.into_dyn(),
        grads: Ok(crate::Grads {
            dx: grads.dx.into_dyn(),
            dgamma: grads.dgamma.into_dyn(),
            dbeta: grads.dbeta.into_dyn(),
        }),
    }
}

/// A case with the candidate's result and the expected one.
struct Run {
    case: Case,
    got: Result<Outputs, Verdict>,
    expected: Outputs,
}

fn run_all(candidate: &mut dyn LayerNorm, suite: Vec<Case>) -> Vec<Run> {
    suite
        .into_iter()
        .map(|case| Run {
            got: candidate.run(&case.inputs),
            expected: expected(&case.inputs),
            case,
        })
        .collect()
}

/// Decides every auto criterion of the challenge except the shared ones.
pub fn decide_all(candidate: &mut dyn LayerNorm, seed: u64, card: &mut Scorecard) {
    // One run per case serves all four accuracy criteria, each judging its own output.
    let shapes = run_all(candidate, shapes_suite(seed));
    for (id, output) in [
        (ids::FORWARD, Output::Y),
        (ids::GRAD_X, Output::Dx),
        (ids::GRAD_GAMMA, Output::Dgamma),
        (ids::GRAD_BETA, Output::Dbeta),
    ] {
        card.check(id, || accurate(&shapes, &[output], TOLERANCE));
    }
    // The variance and ε act on y and dx; dγ and dβ are judged by their own criteria above.
    let variance_outputs = [Output::Y, Output::Dx];
    card.check(ids::LARGE_OFFSET, || {
        accurate(
            &run_all(candidate, large_offset_suite(seed)),
            &variance_outputs,
            TOLERANCE,
        )
    });
    card.check(ids::CONSTANT_ROWS, || {
        accurate(
            &run_all(candidate, constant_rows_suite(seed)),
            &variance_outputs,
            TOLERANCE,
        )
    });
    card.check(ids::FLOAT32, || {
        accurate(
            &run_all(candidate, float32_suite(seed)),
            &variance_outputs,
            FLOAT32_TOLERANCE,
        )
    });
}

/// Every listed output of every run within `tolerance` (and finite, of the expected shape);
/// the first miss decides, naming the case and the output, else the worst error is reported.
fn accurate(runs: &[Run], outputs: &[Output], tolerance: f64) -> Verdict {
    let mut worst = 0.0f64;
    for run in runs {
        let got = match &run.got {
            Ok(got) => got,
            Err(verdict) => return verdict.clone().in_context(run.case.describe()),
        };
        for &output in outputs {
            let got = match output.of(got) {
                Ok(array) => array,
                Err(verdict) => return verdict.in_context(run.case.describe()),
            };
            let expected = output
                .of(&run.expected)
                .expect("the reference's backward succeeds on hidden cases");
            let name = output.name();
            match max_relative_error(got.view(), expected.view()) {
                Ok(error) if error <= tolerance => worst = worst.max(error),
                Ok(error) => {
                    return Verdict::fail(format!(
                        "{}: {name}: {}",
                        run.case.describe(),
                        describe_error(error, tolerance)
                    ));
                }
                Err(mismatch) => {
                    return Verdict::fail(format!("{}: {name}: {mismatch}", run.case.describe()));
                }
            }
        }
    }
    let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
    Verdict::pass(format!(
        "{} cases, {}: {}",
        runs.len(),
        names.join(", "),
        describe_error(worst, tolerance)
    ))
}

/// Batched shapes, T = 1, B = T = 1, D = 3, an odd D and a large D. (Not D = 2: there x̂ = ±√(σ²/(σ²+ε)) is
/// nearly constant, so dx is of the order of ε alone and its relative error measures nothing.)
fn shapes_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::FORWARD));
    [
        [2, 8, 64],
        [3, 1, 17],
        [1, 1, 32],
        [4, 5, 3],
        [2, 3, 33],
        [1, 4, 4096],
    ]
    .into_iter()
    .map(|shape| cases::ordinary(&mut rng, shape, Dtype::F64))
    .collect()
}

/// |μ|/σ ≈ 10⁶ and more: the one-pass variance keeps only a few digits; the two-pass one, all.
fn large_offset_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::LARGE_OFFSET));
    vec![
        cases::large_offset(&mut rng, [2, 4, 64], 1e7),
        cases::large_offset(&mut rng, [1, 3, 256], -4e7),
    ]
}

/// Exactly constant rows (variance 0), D = 1 (every row constant), and near-constant rows
/// (variance ≪ ε).
fn constant_rows_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::CONSTANT_ROWS));
    vec![
        cases::constant(&mut rng, [2, 3, 16]),
        cases::constant(&mut rng, [3, 5, 1]),
        cases::near_constant(&mut rng, [2, 4, 32]),
    ]
}

fn float32_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::FLOAT32));
    [[2, 8, 48], [1, 3, 256]]
        .into_iter()
        .map(|shape| cases::ordinary(&mut rng, shape, Dtype::F32))
        .collect()
}
