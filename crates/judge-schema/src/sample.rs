//! A report with one verdict of every kind, for the tests of this crate and of the crates that
//! read, sign or render reports (feature `sample`), so none of them keeps its own copy.

use std::collections::BTreeMap;

use crate::challenge::ChallengeId;
use crate::criterion::{Criterion, CriterionResult, Verdict};
use crate::report::{
    CandidateKind, FileHash, Fingerprint, Report, SCHEMA_VERSION, SubmissionInfo, Totals, score,
};

fn result(criterion: Criterion, verdict: Verdict) -> CriterionResult {
    CriterionResult {
        criterion,
        verdict,
        seconds: 0.5,
    }
}

/// A flash_attention submission report: auto PASS (weight 3), FAIL and SKIPPED, a passing
/// self-test and a manual item awaiting review; unsigned.
pub fn sample_report() -> Report {
    let criteria = vec![
        result(
            Criterion::auto("matches_naive", "matches naive attention").with_weight(3),
            Verdict::pass("max rel err 2.1e-12 ≤ 1e-4"),
        ),
        result(
            Criterion::auto("no_nxn", "never allocates N×N"),
            Verdict::fail("peak 134217728 B ≥ 20% of N×N (26843545 B)"),
        ),
        result(
            Criterion::auto("gpu_speed", "faster than naive"),
            Verdict::skipped("no GPU"),
        ),
        result(
            Criterion::self_test("self_test", "own tests pass"),
            Verdict::pass("exit 0"),
        ),
        result(
            Criterion::manual("explain_rescale", "explains the rescale factor"),
            Verdict::skipped("manual: needs review"),
        ),
    ];
    Report {
        schema: SCHEMA_VERSION,
        judge_version: "0.1.0".into(),
        challenge: ChallengeId::FlashAttention,
        model: Some("some-model".into()),
        candidate: CandidateKind::Submission,
        submission: Some(SubmissionInfo {
            path: "some-model/flash_attention".into(),
            entry: Some("flash.py".into()),
            files: vec![FileHash {
                path: "flash.py".into(),
                sha256: "ab".repeat(32),
            }],
            adapter: None,
        }),
        fingerprint: Fingerprint {
            prompt_sha256: "cd".repeat(32),
            grader_version: "flash_attention/1".into(),
            submission_sha256: "ef".repeat(32),
            seed: 7,
        },
        environment: BTreeMap::from([("python".into(), "3.11.2".into())]),
        notes: vec![],
        started_unix: 0,
        seconds: 1.5,
        totals: Totals::of(&criteria),
        score: score(&criteria),
        criteria,
        reviews: Vec::new(),
        signature: None,
    }
}
