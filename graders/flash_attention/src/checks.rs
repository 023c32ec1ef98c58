//! The criteria, each a function of a candidate. Expected values come from the reference
//! crate's naive attention (the full softmax matrix: fine at these sizes, never at N = 16384).

use flash_attention::{FlashAttention, naive};
use judge_core::seed::for_criterion;
use judge_core::{Scorecard, Verdict};
use judge_submission::compare::{describe_error, max_relative_error};
use judge_submission::memory::{CallMemory, call_memory_verdict};
use ndarray::ArrayD;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::candidate::{Attention, Inputs};
use crate::cases::{self, Case};
use crate::ids;

/// The prompt's bound on the relative error against naive attention.
const TOLERANCE: f64 = 1e-4;

/// A criterion's hidden cases, drawn from the grading seed.
type Suite = fn(u64) -> Vec<Case>;

/// Decides every auto criterion of the challenge except the shared ones.
pub fn decide_all(candidate: &mut dyn Attention, seed: u64, card: &mut Scorecard) {
    let suites: [(&str, Suite); 7] = [
        (ids::CAUSAL, |s| shapes_suite(s, ids::CAUSAL, true)),
        (ids::NON_CAUSAL, |s| shapes_suite(s, ids::NON_CAUSAL, false)),
        (ids::RAGGED_TILES, ragged_suite),
        (ids::FLOAT32, float32_suite),
        (ids::ONLINE_RESCALE, rescale_suite),
        (ids::LARGE_SCORES, large_scores_suite),
        (ids::MASKED_TILES, masked_tiles_suite),
    ];
    for (id, suite) in suites {
        card.check(id, || matches_naive(candidate, &suite(seed)));
    }
    card.check(ids::MEMORY_TRACED, || traced_memory(candidate, seed));
    card.check(ids::MEMORY_ENFORCED, || enforced_memory(candidate, seed));
}

fn naive_output(case: &Case) -> ArrayD<f64> {
    let (q, k, v) = case.inputs.as_f64();
    naive::attention(q.view(), k.view(), v.view(), case.causal)
        .expect("hidden cases have valid shapes")
        .o
        .into_dyn()
}

/// Runs every case; the first wrong or failed one decides, else the worst error is reported.
fn matches_naive(candidate: &mut dyn Attention, suite: &[Case]) -> Verdict {
    let mut worst = 0.0f64;
    for case in suite {
        let outcome = match candidate.forward(&case.inputs, case.tile, case.causal) {
            Ok(outcome) => outcome,
            Err(verdict) => return verdict.in_context(case.describe()),
        };
        match max_relative_error(outcome.output.view(), naive_output(case).view()) {
            Ok(error) if error <= TOLERANCE => worst = worst.max(error),
            Ok(error) => {
                return Verdict::fail(format!(
                    "{}: {}",
                    case.describe(),
                    describe_error(error, TOLERANCE)
                ));
            }
            Err(mismatch) => return Verdict::fail(format!("{}: {mismatch}", case.describe())),
        }
    }
    Verdict::pass(format!(
        "{} cases, {}",
        suite.len(),
        describe_error(worst, TOLERANCE)
    ))
}

/// The prompt's test shape and a few batched ones, all with T dividing N.
fn shapes_suite(seed: u64, id: &str, causal: bool) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, id));
    [
        ([1, 1, 256, 64], 64),
        ([2, 3, 128, 32], 16),
        ([1, 2, 256, 16], 128),
        ([2, 2, 192, 64], 64),
    ]
    .into_iter()
    .map(|(shape, tile)| Case {
        inputs: cases::random_f64(&mut rng, shape, 1.0),
        tile,
        causal,
    })
    .collect()
}

/// T not dividing N, N smaller than T, N = 1 — each causal and not.
fn ragged_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::RAGGED_TILES));
    let shapes = [
        ([1, 2, 100, 32], 16),
        ([2, 1, 50, 16], 64),
        ([1, 1, 1, 8], 16),
        ([1, 1, 130, 32], 128),
    ];
    shapes
        .into_iter()
        .flat_map(|(shape, tile)| [true, false].map(|causal| (shape, tile, causal)))
        .map(|(shape, tile, causal)| Case {
            inputs: cases::random_f64(&mut rng, shape, 1.0),
            tile,
            causal,
        })
        .collect()
}

fn float32_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::FLOAT32));
    [true, false]
        .into_iter()
        .map(|causal| Case {
            inputs: cases::random_f32(&mut rng, [2, 2, 128, 32]),
            tile: 32,
            causal,
        })
        .collect()
}

/// Non-causal, scores growing along the keys: every tile moves the running max.
fn rescale_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::ONLINE_RESCALE));
    [([1, 2, 256, 32], 32), ([1, 1, 96, 16], 16)]
        .into_iter()
        .map(|(shape, tile)| Case {
            inputs: cases::growing_scores(&mut rng, shape),
            tile,
            causal: false,
        })
        .collect()
}

fn large_scores_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::LARGE_SCORES));
    [true, false]
        .into_iter()
        .map(|causal| Case {
            inputs: cases::large_scores(&mut rng, [1, 2, 128, 32]),
            tile: 32,
            causal,
        })
        .collect()
}

/// Causal shapes whose diagonal tiles are partly masked and whose later key tiles are fully
/// masked for the first rows of a query tile.
fn masked_tiles_suite(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MASKED_TILES));
    [
        ([1, 1, 200, 16], 64),
        ([1, 2, 65, 16], 64),
        ([2, 1, 127, 32], 16),
        ([1, 1, 40, 16], 128),
    ]
    .into_iter()
    .map(|(shape, tile)| Case {
        inputs: cases::random_f64(&mut rng, shape, 1.0),
        tile,
        causal: true,
    })
    .collect()
}

/// One N×N matrix of the inputs' dtype, the unit of both memory criteria.
fn nxn_bytes(inputs: &Inputs) -> u64 {
    let n = inputs.shape()[2] as u64;
    n * n * inputs.itemsize()
}

/// The prompt's memory test: B=H=1, N=4096, D=64, T=128, causal. The peak of the call minus
/// the output must stay under 20% of one N×N matrix — by tracemalloc, and corroborated by a
/// figure the submission cannot touch: the memory the call added, measured outside its code
/// (within `judge_submission::memory::RESIDENT_SLACK_BYTES` more).
fn traced_memory(candidate: &mut dyn Attention, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MEMORY_TRACED));
    let inputs = cases::random_f64(&mut rng, [1, 1, 4096, 64], 1.0);
    let outcome = match candidate.forward(&inputs, 128, true) {
        Ok(outcome) => outcome,
        Err(verdict) => return verdict,
    };
    if let Some(wrong) = wrong_output(&inputs, &outcome.output) {
        return wrong;
    }
    call_memory_verdict(CallMemory {
        traced_peak: outcome.peak_bytes,
        peak_note: outcome.peak_note,
        outside: outcome.outside_extra_bytes,
        returned: outcome.output.len() as u64 * inputs.itemsize(),
        returned_what: "output",
        limit: nxn_bytes(&inputs) / 5,
        limit_what: "20% of N×N",
        prefix: String::new(),
    })
}

/// The cap for N = 16384: one N×N float64 matrix is 2 GiB, and even float32 is 1 GiB, so a
/// 1 GiB address space holds Python, NumPy, the inputs and tiles, but never the matrix.
const ENFORCED_N: usize = 16384;
const ENFORCED_CAP_BYTES: u64 = 1 << 30;

/// Memory enforced from outside: the call must complete under an address-space cap that an
/// N×N matrix cannot fit in, and return an output of the right shape that agrees with the
/// reference's tiled output (the naive one would need the matrix itself).
fn enforced_memory(candidate: &mut dyn Attention, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MEMORY_ENFORCED));
    let inputs = cases::random_f64(&mut rng, [1, 1, ENFORCED_N, 64], 1.0);
    let outcome = match candidate.forward_capped(&inputs, 128, true, ENFORCED_CAP_BYTES) {
        Ok(outcome) => outcome,
        Err(verdict) => return verdict,
    };
    let cap = format!(
        "N={ENFORCED_N} under a {} GiB cap",
        ENFORCED_CAP_BYTES >> 30
    );
    match wrong_output(&inputs, &outcome.output) {
        Some(wrong) => wrong,
        None => Verdict::pass(format!("{cap}: completed with the correct output")),
    }
}

/// A memory criterion only counts a correct answer (returning zeros fast is not "memory
/// efficient"). At these sizes the naive matrix is what is being avoided, so the expected
/// output comes from the reference's tiled forward.
fn wrong_output(inputs: &Inputs, output: &ArrayD<f64>) -> Option<Verdict> {
    let (q, k, v) = inputs.as_f64();
    let expected = FlashAttention::new(128, true)
        .forward(q.view(), k.view(), v.view())
        .expect("hidden cases have valid shapes")
        .o
        .into_dyn();
    let [_, _, n, _] = inputs.shape();
    match max_relative_error(output.view(), expected.view()) {
        Ok(error) if error <= TOLERANCE => None,
        Ok(error) => Some(Verdict::fail(format!(
            "N={n}: wrong output, {}",
            describe_error(error, TOLERANCE)
        ))),
        Err(mismatch) => Some(Verdict::fail(format!("N={n}: {mismatch}"))),
    }
}
