//! The runtime criteria, each a function of what the runner reported. Expected outputs come from
//! the reference's CPU one-pass algorithm (`fuse::fused_softmax_topk`), computed in this process.

use fuse::TopK;
use judge_core::Verdict;

use crate::cases::Case;
use crate::runner::{CheckRecord, JobOutput};

/// Probabilities must be within `ABS_TOL + REL_TOL · p` of the reference's.
pub const ABS_TOL: f32 = 1e-6;
/// The relative part of the bound: f32 arithmetic, summed in another order than the reference's.
pub const REL_TOL: f32 = 1e-4;

/// "Far below rows × vocab × 4 bytes": device memory the submission allocates during a call
/// may reach at most this fraction of one softmax matrix (`memory`).
pub const MEMORY_FRACTION: u64 = 8;

/// The reference's answer for a case.
pub(crate) fn expected(
    logits: &[f32],
    rows: usize,
    vocab: usize,
    k: usize,
) -> Result<TopK, Verdict> {
    fuse::fused_softmax_topk(logits, rows, vocab, k).map_err(|e| {
        Verdict::harness_error(format!("the CPU reference refused a hidden case: {e}"))
    })
}

/// Why there is no record for `case`: the library did not load, or the runner died before it.
/// Exit code 2 is the runner's own setup failing (no usable driver, unreadable job): the
/// harness's fault. A crash, a timeout or a kernel fault is the submission's.
fn missing(output: &JobOutput, case: &str) -> Verdict {
    match &output.load_failure {
        Some(load) => Verdict::error(format!(
            "fuse-runner could not load the {} library: {}",
            load.library, load.error
        )),
        None if output.process.exit_code == Some(RUNNER_SETUP_FAILURE) => {
            Verdict::harness_error(output.stop_reason())
        }
        None => Verdict::error(format!("{} before case {case}", output.stop_reason())),
    }
}

/// fuse-runner's exit code when it cannot do its own part (see `die` in fuse_runner.cpp).
const RUNNER_SETUP_FAILURE: i32 = 2;

/// The entry point's own status and the stream's after it.
pub(crate) fn call_status(
    case: &str,
    status: (i32, &str),
    sync: (i32, &str),
) -> Result<(), Verdict> {
    if status.0 != 0 {
        return Err(Verdict::fail(format!(
            "{case}: fused_softmax_topk returned {} ({})",
            status.1, status.0
        )));
    }
    if sync.0 != 0 {
        return Err(Verdict::fail(format!(
            "{case}: the kernel failed on the stream: {} ({})",
            sync.1, sync.0
        )));
    }
    Ok(())
}

/// The runner's record and outputs of a case whose call returned 0 and synchronised cleanly;
/// else the verdict that case earned (not run, an error code, missing outputs).
fn completed<'o>(
    output: &'o JobOutput,
    case: &Case,
) -> Result<(&'o CheckRecord, &'o TopK), Verdict> {
    let Some((record, actual)) = output.check(&case.name) else {
        return Err(missing(output, &case.description));
    };
    call_status(
        &case.description,
        (record.status, &record.status_name),
        (record.sync_status, &record.sync_status_name),
    )?;
    let actual = actual.as_ref().ok_or_else(|| {
        Verdict::harness_error(format!(
            "{}: fuse-runner reported success but its output files are missing",
            case.description
        ))
    })?;
    Ok((record, actual))
}

/// Every case's indices exactly and probabilities within tolerance, else the first difference.
pub fn matches_reference(output: &JobOutput, cases: &[Case]) -> Verdict {
    for case in cases {
        let (_, actual) = match completed(output, case) {
            Ok(done) => done,
            Err(verdict) => return verdict,
        };
        if let Err(verdict) = compare(&case.description, case, actual) {
            return verdict;
        }
    }
    let vocabs: Vec<String> = distinct(cases.iter().map(|c| c.vocab));
    let ks: Vec<String> = distinct(cases.iter().map(|c| c.k));
    Verdict::pass(format!(
        "{} cases (vocab {}; k {}): indices exact, probabilities within {ABS_TOL:e} + {REL_TOL:e}·p",
        cases.len(),
        vocabs.join(", "),
        ks.join(", ")
    ))
}

fn distinct(values: impl Iterator<Item = usize>) -> Vec<String> {
    let mut values: Vec<usize> = values.collect();
    values.sort_unstable();
    values.dedup();
    values.iter().map(usize::to_string).collect()
}

/// Compares one case's outputs with the reference; non-finite probabilities are named as such.
fn compare(description: &str, case: &Case, actual: &TopK) -> Result<(), Verdict> {
    let expected = expected(&case.logits, case.rows, case.vocab, case.k)?;
    compare_top_k(description, &expected, actual)
}

pub(crate) fn compare_top_k(
    description: &str,
    expected: &TopK,
    actual: &TopK,
) -> Result<(), Verdict> {
    if let Some(at) = actual.probs.iter().position(|p| !p.is_finite()) {
        return Err(Verdict::fail(format!(
            "{description}: non-finite probability {} at row {} rank {}",
            actual.probs[at],
            at / actual.k,
            at % actual.k
        )));
    }
    match expected.first_mismatch(actual, ABS_TOL, REL_TOL) {
        Some(mismatch) => Err(Verdict::fail(format!("{description}: {mismatch}"))),
        None => Ok(()),
    }
}

/// Distinct indices in `0..vocab`, finite probabilities in [0, 1], non-increasing, sum ≤ 1.
pub(crate) fn looks_like_top_k(top: &TopK, vocab: usize) -> Result<(), String> {
    for row in 0..top.rows {
        let (indices, probs) = top.row(row);
        if let Some(bad) = indices.iter().find(|&&i| i < 0 || i as usize >= vocab) {
            return Err(format!("row {row} has index {bad}"));
        }
        let mut sorted = indices.to_vec();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("row {row} repeats an index"));
        }
        if let Some(bad) = probs.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(format!("row {row} has probability {bad}"));
        }
        if probs.windows(2).any(|w| w[1] > w[0] * (1.0 + 1e-4) + 1e-7) {
            return Err(format!("row {row} is not best first"));
        }
        let sum: f32 = probs.iter().sum();
        if sum > 1.0 + 1e-3 {
            return Err(format!("row {row} has probabilities summing to {sum}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(rows: usize, k: usize, indices: Vec<i32>, probs: Vec<f32>) -> TopK {
        TopK {
            rows,
            k,
            indices,
            probs,
        }
    }

    #[test]
    fn a_top_k_must_be_distinct_in_range_and_best_first() {
        assert!(looks_like_top_k(&top(1, 2, vec![3, 1], vec![0.5, 0.2]), 4).is_ok());
        assert!(looks_like_top_k(&top(1, 2, vec![3, 4], vec![0.5, 0.2]), 4).is_err());
        assert!(looks_like_top_k(&top(1, 2, vec![0, 0], vec![0.0, 0.0]), 4).is_err());
        assert!(looks_like_top_k(&top(1, 2, vec![0, 1], vec![0.2, 0.5]), 4).is_err());
        assert!(looks_like_top_k(&top(1, 2, vec![0, 1], vec![0.7, 0.6]), 4).is_err());
        assert!(looks_like_top_k(&top(1, 2, vec![-1, 1], vec![f32::NAN, 0.1]), 4).is_err());
    }

    #[test]
    fn non_finite_probabilities_are_named() {
        let expected = top(1, 2, vec![0, 1], vec![0.6, 0.4]);
        let actual = top(1, 2, vec![0, 1], vec![0.6, f32::NAN]);
        let verdict = compare_top_k("case", &expected, &actual).unwrap_err();
        assert!(
            verdict.detail().contains("non-finite"),
            "{}",
            verdict.detail()
        );
        let swapped = top(1, 2, vec![1, 0], vec![0.6, 0.4]);
        let verdict = compare_top_k("case", &expected, &swapped).unwrap_err();
        assert!(
            verdict.detail().contains("expected index 0"),
            "{}",
            verdict.detail()
        );
    }
}
