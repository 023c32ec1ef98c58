//! The criteria, each a function of a candidate. Expected values come from the reference
//! crate's naive attention and naive backward (the full softmax matrix: fine at these sizes),
//! and, for the memory criteria's large N, from its tiled forward and backward.

use flash_attention::{FlashAttention, ForwardOutput, Gradients, naive};
use judge_core::seed::for_criterion;
use judge_core::{Scorecard, Verdict};
use judge_submission::compare::{Mismatch, describe_error, max_relative_error};
use judge_submission::memory::{CallMemory, call_memory_verdict};
use ndarray::{ArrayD, ArrayViewD};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::candidate::{Backward, CachedArray, ForwardBackward, GRADIENT_NAMES};
use crate::cases::{self, Case};
use crate::ids;
use crate::per_tile_rowsum::per_tile_rowsum_gradients;

/// The prompt's bound on the relative error against the naive computation.
const TOLERANCE: f64 = 1e-4;

/// Decides every auto criterion of the challenge except the shared ones.
pub fn decide_all<C: ForwardBackward>(candidate: &mut C, seed: u64, card: &mut Scorecard) {
    card.check(ids::OUTPUT, || output_matches(candidate, seed));
    card.check(ids::LSE, || lse_matches(candidate, seed));
    card.check(ids::CACHE, || cache_holds_no_nxn(candidate, seed));
    card.check(ids::GRADIENTS_CAUSAL, || {
        gradients_match(
            candidate,
            &gradient_suite(seed, ids::GRADIENTS_CAUSAL, true),
        )
    });
    card.check(ids::GRADIENTS_NON_CAUSAL, || {
        gradients_match(
            candidate,
            &gradient_suite(seed, ids::GRADIENTS_NON_CAUSAL, false),
        )
    });
    card.check(ids::ACCUMULATES, || {
        gradients_match(candidate, &accumulation_suite(seed))
    });
    card.check(ids::WHOLE_ROW_D, || whole_row_d_term(candidate, seed));
    card.check(ids::MEMORY_FORWARD, || traced_forward(candidate, seed));
    card.check(ids::MEMORY_BACKWARD, || traced_backward(candidate, seed));
    card.check(ids::MEMORY_ENFORCED, || enforced_memory(candidate, seed));
}

fn naive_forward(case: &Case) -> ForwardOutput<f64> {
    naive::attention(case.q.view(), case.k.view(), case.v.view(), case.causal)
        .expect("hidden cases have valid shapes")
}

fn naive_gradients(case: &Case) -> Gradients<f64> {
    naive::attention_backward(
        case.d_o.view(),
        case.q.view(),
        case.k.view(),
        case.v.view(),
        case.causal,
    )
    .expect("hidden cases have valid shapes")
}

/// The reference's tiled forward and backward, for sizes where the naive N × N is what is
/// being avoided.
fn tiled_expected(case: &Case) -> (ForwardOutput<f64>, Gradients<f64>) {
    let attention = FlashAttention::new(case.tile, case.causal);
    let forward = attention
        .forward(case.q.view(), case.k.view(), case.v.view())
        .expect("hidden cases have valid shapes");
    let gradients = attention
        .backward(
            case.d_o.view(),
            case.q.view(),
            case.k.view(),
            case.v.view(),
            forward.o.view(),
            forward.lse.view(),
        )
        .expect("hidden cases have valid shapes");
    (forward, gradients)
}

/// `Ok(error)` within the tolerance, else the evidence of why not.
fn within_tolerance(got: ArrayViewD<f64>, expected: ArrayViewD<f64>) -> Result<f64, String> {
    match max_relative_error(got, expected) {
        Ok(error) if error <= TOLERANCE => Ok(error),
        Ok(error) => Err(describe_error(error, TOLERANCE)),
        Err(mismatch) => Err(mismatch.to_string()),
    }
}

/// Runs `check` on every case; the first failing one decides, else the worst error is
/// reported.
fn every_case(suite: &[Case], mut check: impl FnMut(&Case) -> Result<f64, Verdict>) -> Verdict {
    let mut worst = 0.0f64;
    for case in suite {
        match check(case) {
            Ok(error) => worst = worst.max(error),
            Err(verdict) => return verdict.in_context(case.describe()),
        }
    }
    Verdict::pass(format!(
        "{} cases, {}",
        suite.len(),
        describe_error(worst, TOLERANCE)
    ))
}

/// Ragged tiles, N < T, N = 1 and the batched prompt shape, each causal and not.
const FORWARD_SHAPES: [([usize; 4], usize); 4] = [
    ([2, 4, 100, 32], 16),
    ([1, 2, 50, 16], 64),
    ([1, 1, 1, 8], 16),
    ([2, 4, 128, 64], 64),
];

/// O, the first item the forward returns, against naive attention.
fn output_matches<C: ForwardBackward>(candidate: &mut C, seed: u64) -> Verdict {
    let suite = cases::suite(seed, ids::OUTPUT, &FORWARD_SHAPES, &[true, false]);
    every_case(&suite, |case| {
        let forward = candidate.forward(case)?;
        let expected = naive_forward(case).o.into_dyn();
        within_tolerance(forward.output.view(), expected.view())
            .map_err(|e| Verdict::fail(format!("O: {e}")))
    })
}

/// cache['L'] against the naive log-sum-exp: L = m + log(l), shape (B, H, N).
fn lse_matches<C: ForwardBackward>(candidate: &mut C, seed: u64) -> Verdict {
    let suite = cases::suite(seed, ids::LSE, &FORWARD_SHAPES, &[true, false]);
    every_case(&suite, |case| {
        let forward = candidate.forward(case)?;
        let lse = candidate
            .cached_lse(&forward.cache)
            .map_err(Verdict::fail)?;
        let expected = naive_forward(case).lse.into_dyn();
        within_tolerance(lse.view(), expected.view())
            .map_err(|e| Verdict::fail(format!("L: {e} (L must be m + log(l))")))
    })
}

/// A shape where the prompt's cache (O, Q, K, V: four N × D arrays, and L) holds 1/16 of one
/// N × N matrix per head, so that a cache holding P, S or their tiles stands out while a few
/// extra N × D arrays do not.
const CACHE_SHAPE: [usize; 4] = [1, 2, 512, 8];

/// Every array the forward's cache holds: none may have two axes of length N, and together
/// they must hold fewer numbers per head than a quarter of one N × N matrix — the causal half
/// of the matrix, kept as tiles, is the same violation as the whole.
fn cache_holds_no_nxn<C: ForwardBackward>(candidate: &mut C, seed: u64) -> Verdict {
    let suite = cases::suite(seed, ids::CACHE, &[(CACHE_SHAPE, 64)], &[true, false]);
    let mut described = String::new();
    for case in &suite {
        let forward = match candidate.forward(case) {
            Ok(forward) => forward,
            Err(verdict) => return verdict.in_context(case.describe()),
        };
        let arrays = match candidate.cached_arrays(&forward.cache) {
            Ok(arrays) => arrays,
            Err(reason) => return Verdict::fail(reason).in_context(case.describe()),
        };
        if let Err(reason) = no_nxn_array(case.shape(), &arrays) {
            return Verdict::fail(reason).in_context(case.describe());
        }
        described = list_arrays(&arrays);
    }
    Verdict::pass(format!(
        "N={}: no array with two axes of length N, fewer than N²/4 numbers per head in all: \
         {described}",
        CACHE_SHAPE[2]
    ))
}

fn list_arrays(arrays: &[CachedArray]) -> String {
    if arrays.is_empty() {
        return "no arrays".into();
    }
    arrays
        .iter()
        .map(|a| format!("cache{} {:?}", a.path, a.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the arrays of a cache for inputs of `shape` (B, H, N, D) amount to an N × N matrix.
fn no_nxn_array([batch, heads, n, _]: [usize; 4], arrays: &[CachedArray]) -> Result<(), String> {
    if let Some(square) = arrays
        .iter()
        .find(|a| a.shape.iter().filter(|&&len| len == n).count() >= 2)
    {
        return Err(format!(
            "cache{} has shape {:?}: an N×N array (N={n})",
            square.path, square.shape
        ));
    }
    let numbers: usize = arrays
        .iter()
        .map(|a| a.shape.iter().product::<usize>())
        .sum();
    let per_head = numbers / (batch * heads).max(1);
    if per_head >= n * n / 4 {
        return Err(format!(
            "the cache's arrays hold {per_head} numbers per head ≥ N²/4 = {}: {}",
            n * n / 4,
            list_arrays(arrays)
        ));
    }
    Ok(())
}

/// The prompt's Test 2 shape, ragged tiles (T not dividing N), N < T and N = 1.
fn gradient_suite(seed: u64, criterion: &str, causal: bool) -> Vec<Case> {
    let shapes = [
        ([2, 4, 256, 64], 64),
        ([2, 4, 100, 32], 16),
        ([2, 4, 50, 16], 64),
        ([1, 1, 1, 8], 16),
    ];
    cases::suite(seed, criterion, &shapes, &[causal])
}

/// Several KV tiles per Q tile and several Q tiles per KV tile: an overwritten dQ keeps only
/// the last KV tile's share, an overwritten dK or dV only the last Q tile's.
fn accumulation_suite(seed: u64) -> Vec<Case> {
    let shapes = [([1, 2, 96, 16], 16), ([2, 1, 100, 32], 32)];
    cases::suite(seed, ids::ACCUMULATES, &shapes, &[false, true])
}

/// Forward, then backward with the forward's cache, against the naive backward.
fn gradients_match<C: ForwardBackward>(candidate: &mut C, suite: &[Case]) -> Verdict {
    every_case(suite, |case| {
        let backward = forward_then_backward(candidate, case)?;
        compare_gradients(&backward, &naive_gradients(case))
            .map_err(|wrong| Verdict::fail(wrong.evidence(None)))
    })
}

fn forward_then_backward<C: ForwardBackward>(
    candidate: &mut C,
    case: &Case,
) -> Result<Backward, Verdict> {
    let forward = candidate.forward(case)?;
    candidate.backward(case, &forward.cache)
}

/// Which gradients are wrong, and every gradient's error.
struct WrongGradients {
    names: Vec<&'static str>,
    errors: String,
}

impl WrongGradients {
    /// "wrong dQ, dK: dQ max rel err … ; dK …; dV …", then `why` it went wrong if known, else
    /// what the pattern of wrong gradients points at.
    fn evidence(&self, why: Option<&str>) -> String {
        let generic = (self.names == ["dQ", "dK"]).then_some(
            "dV is right, so the softmax gradient dS = P∘(dP − D) is where it goes wrong",
        );
        let mut evidence = format!("wrong {}: {}", self.names.join(", "), self.errors);
        if let Some(why) = why.or(generic) {
            evidence.push_str(" — ");
            evidence.push_str(why);
        }
        evidence
    }
}

/// The worst error when every gradient is within the tolerance, else which are not.
fn compare_gradients(got: &Backward, expected: &Gradients<f64>) -> Result<f64, WrongGradients> {
    let expected = [&expected.dq, &expected.dk, &expected.dv];
    let results: Vec<Result<f64, Mismatch>> = got
        .gradients
        .iter()
        .zip(expected)
        .map(|(got, want)| max_relative_error(got.view(), want.view().into_dyn()))
        .collect();
    let right = |r: &Result<f64, Mismatch>| matches!(r, Ok(e) if *e <= TOLERANCE);
    if results.iter().all(right) {
        return Ok(results.into_iter().flatten().fold(0.0, f64::max));
    }
    let names = GRADIENT_NAMES
        .into_iter()
        .zip(&results)
        .filter(|(_, r)| !right(r))
        .map(|(name, _)| name)
        .collect();
    let errors = GRADIENT_NAMES
        .iter()
        .zip(&results)
        .map(|(name, result)| match result {
            Ok(error) => format!("{name} {}", describe_error(*error, TOLERANCE)),
            Err(mismatch) => format!("{name} {mismatch}"),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(WrongGradients { names, errors })
}

/// Rows that several key tiles cover: the prompt's Test 1 and Test 2 configurations and a
/// ragged non-causal one. The literal step 2e is right only when T ≥ N, so no case has that.
fn whole_row_d_term<C: ForwardBackward>(candidate: &mut C, seed: u64) -> Verdict {
    let shapes = [([1, 1, 64, 32], 16), ([2, 4, 256, 64], 64)];
    let mut suite = cases::suite(seed, ids::WHOLE_ROW_D, &shapes, &[true]);
    suite.extend(cases::suite(
        seed,
        ids::WHOLE_ROW_D,
        &[([1, 2, 130, 16], 32)],
        &[false],
    ));
    every_case(&suite, |case| {
        let backward = forward_then_backward(candidate, case)?;
        compare_gradients(&backward, &naive_gradients(case)).map_err(|wrong| {
            let literal = is_literal_step_2e(case, &backward).then_some(
                "dQ and dK are those of step 2e taken literally: rowsum(P∘dP) of one key tile \
                 subtracted in place of D_i, which must be summed over the whole row \
                 (D_i = dO_i·O_i)",
            );
            Verdict::fail(wrong.evidence(literal))
        })
    })
}

/// Whether the candidate's dQ and dK are exactly what one key tile's rowsum in place of D_i
/// gives.
fn is_literal_step_2e(case: &Case, backward: &Backward) -> bool {
    let lse = naive_forward(case).lse;
    let literal = per_tile_rowsum_gradients(case, &lse);
    backward.gradients[..2]
        .iter()
        .zip(&literal)
        .all(|(got, literal)| within_tolerance(got.view(), literal.view().into_dyn()).is_ok())
}

/// The prompt's memory test: B=H=1, N=4096, D=64, T=128, causal.
const MEMORY_SHAPE: [usize; 4] = [1, 1, 4096, 64];
const MEMORY_TILE: usize = 128;

/// One N×N float64 matrix, the unit of every memory criterion.
fn nxn_bytes(case: &Case) -> u64 {
    let n = case.n() as u64;
    n * n * 8
}

/// Bytes of `count` float64 numbers.
fn float64_bytes(count: usize) -> u64 {
    count as u64 * 8
}

fn memory_case(seed: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MEMORY_FORWARD));
    Case::random(&mut rng, MEMORY_SHAPE, MEMORY_TILE, true)
}

/// peak − returned < 20% of one N×N matrix: the returned arrays must exist whatever the
/// method, so they are not held against it; corroborated by the judge's own figure.
fn traced_peak_verdict(
    case: &Case,
    peak: Option<u64>,
    peak_note: Option<String>,
    outside: Option<u64>,
    returned: u64,
    what: &str,
) -> Verdict {
    call_memory_verdict(CallMemory {
        traced_peak: peak,
        peak_note,
        outside,
        returned,
        returned_what: what,
        limit: nxn_bytes(case) / 5,
        limit_what: "20% of N×N",
        prefix: format!("N={}: ", case.n()),
    })
}

/// A memory criterion only counts a correct answer (returning zeros is not "memory
/// efficient").
fn wrong_output(
    case: &Case,
    output: &ArrayD<f64>,
    expected: &ForwardOutput<f64>,
) -> Option<Verdict> {
    within_tolerance(output.view(), expected.o.view().into_dyn())
        .err()
        .map(|e| Verdict::fail(format!("N={}: wrong O, {e}", case.n())))
}

fn wrong_gradients(case: &Case, backward: &Backward, expected: &Gradients<f64>) -> Option<Verdict> {
    compare_gradients(backward, expected)
        .err()
        .map(|wrong| Verdict::fail(format!("N={}: {}", case.n(), wrong.evidence(None))))
}

/// The forward's tracemalloc peak, minus O and L.
fn traced_forward<C: ForwardBackward>(candidate: &mut C, seed: u64) -> Verdict {
    let case = memory_case(seed);
    let forward = match candidate.forward(&case) {
        Ok(forward) => forward,
        Err(verdict) => return verdict,
    };
    let (expected, _) = tiled_expected(&case);
    if let Some(wrong) = wrong_output(&case, &forward.output, &expected) {
        return wrong;
    }
    let returned = float64_bytes(expected.o.len() + expected.lse.len());
    traced_peak_verdict(
        &case,
        forward.peak_bytes,
        forward.peak_note,
        forward.outside_extra_bytes,
        returned,
        "O and L",
    )
}

/// The backward's tracemalloc peak, minus dQ, dK and dV.
fn traced_backward<C: ForwardBackward>(candidate: &mut C, seed: u64) -> Verdict {
    let case = memory_case(seed);
    let backward = match forward_then_backward(candidate, &case) {
        Ok(backward) => backward,
        Err(verdict) => return verdict,
    };
    let (_, expected) = tiled_expected(&case);
    if let Some(wrong) = wrong_gradients(&case, &backward, &expected) {
        return wrong;
    }
    let returned = float64_bytes(3 * expected.dq.len());
    traced_peak_verdict(
        &case,
        backward.peak_bytes,
        backward.peak_note,
        backward.outside_extra_bytes,
        returned,
        "dQ, dK, dV",
    )
}

/// N = 8192: one N×N float64 matrix is 512 MiB, exactly the cap, so it cannot fit beside
/// Python and NumPy, while a tiled forward and backward (nine N × D arrays of 4 MiB, T × T
/// tiles) run in well under half of it.
const ENFORCED_SHAPE: [usize; 4] = [1, 1, 8192, 64];
const ENFORCED_CAP_BYTES: u64 = 512 << 20;

/// Memory enforced from outside, where a submission cannot hide from tracemalloc: the forward
/// and then the backward, with its cache, in one worker under an address-space cap that an N×N
/// matrix exceeds, both with the right results.
fn enforced_memory<C: ForwardBackward>(candidate: &mut C, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MEMORY_ENFORCED));
    let case = Case::random(&mut rng, ENFORCED_SHAPE, MEMORY_TILE, true);
    let (output, backward) = match candidate.forward_backward_capped(&case, ENFORCED_CAP_BYTES) {
        Ok(result) => result,
        Err(verdict) => return verdict,
    };
    let (expected_forward, expected_gradients) = tiled_expected(&case);
    if let Some(wrong) = wrong_output(&case, &output, &expected_forward)
        .or_else(|| wrong_gradients(&case, &backward, &expected_gradients))
    {
        return wrong;
    }
    Verdict::pass(format!(
        "N={} under a {} MiB cap: forward and backward completed with the right O, dQ, dK, dV",
        case.n(),
        ENFORCED_CAP_BYTES >> 20
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(path: &str, shape: &[usize]) -> CachedArray {
        CachedArray {
            path: path.into(),
            shape: shape.to_vec(),
        }
    }

    /// The prompt's cache for (B, H, N, D).
    fn prompt_cache([b, h, n, d]: [usize; 4]) -> Vec<CachedArray> {
        let mut arrays: Vec<_> = ["O", "Q", "K", "V"]
            .map(|key| array(&format!("['{key}']"), &[b, h, n, d]))
            .into();
        arrays.push(array("['L']", &[b, h, n]));
        arrays
    }

    #[test]
    fn the_prompts_cache_and_a_few_extra_arrays_hold_no_nxn() {
        let mut arrays = prompt_cache(CACHE_SHAPE);
        assert_eq!(no_nxn_array(CACHE_SHAPE, &arrays), Ok(()));
        arrays.extend((0..4).map(|i| array(&format!("['extra{i}']"), &[1, 2, 512, 8])));
        assert_eq!(no_nxn_array(CACHE_SHAPE, &arrays), Ok(()));
    }

    #[test]
    fn an_array_with_two_axes_of_length_n_is_named() {
        let mut arrays = prompt_cache(CACHE_SHAPE);
        arrays.push(array("['P']", &[1, 2, 512, 512]));
        let reason = no_nxn_array(CACHE_SHAPE, &arrays).unwrap_err();
        assert!(
            reason.starts_with("cache['P'] has shape [1, 2, 512, 512]"),
            "{reason}"
        );
    }

    #[test]
    fn the_causal_half_of_the_scores_kept_as_tiles_is_caught() {
        // 8 query tiles of T = 64, each with the key tiles up to the diagonal: 36 per head.
        let mut arrays = prompt_cache(CACHE_SHAPE);
        for head in 0..2 {
            for tile in 0..36 {
                arrays.push(array(&format!("['S'][{head}][{tile}]"), &[64, 64]));
            }
        }
        let reason = no_nxn_array(CACHE_SHAPE, &arrays).unwrap_err();
        assert!(reason.contains("per head ≥ N²/4"), "{reason}");
    }
}
