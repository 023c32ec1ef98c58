//! The grader is held to its own standard: the correct fixture passes every auto criterion,
//! each buggy fixture fails the criteria its bug breaks — the one naming its trap among them —
//! and null submissions pass no correctness criterion. (The reference: tests/reference.rs.)

use std::path::Path;

use grader_kv::{KvGrader, ids};
use grader_testkit::{
    assert_all_auto_pass, assert_fails_exactly, assert_none_pass, describe, grade, null_sources,
    status, submission, submission_from_dir,
};

const SEED: u64 = 20261127;

/// Every auto criterion of the challenge's own.
const CORRECTNESS: [&str; 6] = [
    ids::MATCHES,
    ids::CROSS_TALK,
    ids::MULTI_HEAD,
    ids::CACHED_PAST,
    ids::MEMORY,
    ids::LONG_RUN,
];

fn grade_fixture(name: &str) -> judge_core::Report {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let sub = submission_from_dir("kv", &fixture);
    grade(&KvGrader, &sub, SEED)
}

fn evidence<'r>(report: &'r judge_core::Report, id: &str) -> &'r str {
    report
        .criteria
        .iter()
        .find(|r| r.criterion.id == id)
        .unwrap_or_else(|| panic!("no criterion {id}"))
        .verdict
        .detail()
}

#[test]
fn a_correct_submission_passes_every_auto_criterion() {
    let report = grade_fixture("correct");
    assert_all_auto_pass(&report);
    assert_eq!(
        status(&report, judge_submission::SELF_TEST),
        "PASS",
        "{}",
        describe(&report)
    );
    assert_eq!(
        report.submission.as_ref().unwrap().entry.as_deref(),
        Some("kv_cache.py")
    );
}

#[test]
fn sequences_sharing_a_slot_are_caught_as_cross_talk() {
    let report = grade_fixture("shared_slot");
    // Single-sequence runs and batches listed in slot order keep row = slot: those pass.
    assert_fails_exactly(&report, &[ids::MATCHES, ids::CROSS_TALK]);
    assert!(
        evidence(&report, ids::CROSS_TALK).contains("decoded alone"),
        "{}",
        describe(&report)
    );
}

#[test]
fn an_off_by_one_causal_prefix_fails_every_check_of_the_outputs() {
    let report = grade_fixture("off_by_one");
    // Wrong numbers everywhere, but the same wrong numbers batched or alone.
    assert_fails_exactly(
        &report,
        &[
            ids::MATCHES,
            ids::MULTI_HEAD,
            ids::CACHED_PAST,
            ids::MEMORY,
            ids::LONG_RUN,
        ],
    );
    assert!(
        evidence(&report, ids::MATCHES).contains("token 0"),
        "{}",
        describe(&report)
    );
}

#[test]
fn unmasked_padding_is_caught_where_lengths_differ() {
    let report = grade_fixture("padding_unmasked");
    // A sequence's outputs then depend on the longest sequence beside it: cross-talk too.
    assert_fails_exactly(&report, &[ids::MATCHES, ids::CROSS_TALK]);
}

#[test]
fn re_concatenating_the_cache_every_step_fails_memory_only() {
    let report = grade_fixture("reconcatenates");
    assert_fails_exactly(&report, &[ids::MEMORY]);
    assert!(
        evidence(&report, ids::MEMORY).contains("of the cache"),
        "{}",
        describe(&report)
    );
}

#[test]
fn null_submissions_pass_no_correctness_criterion() {
    for (kind, source) in null_sources(&["KVCache"]) {
        let sub = submission("kv", &[("kv_cache.py", source.as_str())]);
        let report = grade(&KvGrader, &sub, SEED);
        assert_none_pass(&report, &CORRECTNESS);
        if kind == "raises" {
            assert_eq!(
                status(&report, ids::MATCHES),
                "ERROR",
                "{}",
                describe(&report)
            );
        }
    }
}

#[test]
fn a_submission_without_the_contract_class_is_an_error_naming_it() {
    let sub = submission(
        "kv",
        &[(
            "cache.py",
            "class KvCache:\n    def __init__(self, *a):\n        pass\n",
        )],
    );
    let report = grade(&KvGrader, &sub, SEED);
    assert_eq!(status(&report, ids::MATCHES), "ERROR");
    assert!(
        evidence(&report, ids::MATCHES).contains("KVCache"),
        "{}",
        describe(&report)
    );
}
