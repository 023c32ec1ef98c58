//! The grader is held to its own standard: the correct fixture passes every auto criterion,
//! each buggy fixture fails the criteria its bug breaks — the one naming its trap among them —
//! and null submissions pass no correctness criterion. (The reference: tests/reference.rs.)

use grader_kv::{KvGrader, ids};
use grader_testkit::{
    assert_correct_submission, assert_fails_exactly, assert_missing_entry_is_named,
    assert_null_submissions_fail, describe, evidence, grade,
};

mod mutations;

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

/// Grades the fixture `name`: a real folder, or a mutation of `correct`.
fn grade_fixture(name: &str) -> judge_core::Report {
    grade(&KvGrader, &mutations::FIXTURES.fixture(name), SEED)
}

#[test]
fn a_correct_submission_passes_every_auto_criterion() {
    assert_correct_submission(&grade_fixture("correct"), "kv_cache.py");
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
    assert_null_submissions_fail(
        &KvGrader,
        SEED,
        "kv_cache.py",
        &["KVCache"],
        &CORRECTNESS,
        ids::MATCHES,
    );
}

#[test]
fn a_submission_without_the_contract_class_is_an_error_naming_it() {
    assert_missing_entry_is_named(
        &KvGrader,
        SEED,
        &[(
            "cache.py",
            "class KvCache:\n    def __init__(self, *a):\n        pass\n",
        )],
        ids::MATCHES,
        "KVCache",
    );
}

/// The answer written to the bare prompt (its own class, argument order and method names), with the
/// adapter that maps it onto the interface.
const BARE_PROMPT: &str = "bare_prompt";

#[test]
fn a_bare_prompt_answer_is_a_contract_error_without_its_adapter_and_passes_with_it() {
    // The evidence names what is missing and what the interface expected.
    grader_testkit::assert_bare_prompt_answer_needs_its_adapter(
        &KvGrader,
        env!("CARGO_MANIFEST_DIR"),
        BARE_PROMPT,
        SEED,
        &["missing", "expected"],
    );
}

#[test]
fn a_bare_prompt_answer_with_an_off_by_one_causal_prefix_fails_through_its_adapter() {
    let sub = grader_testkit::mutated_bare_prompt(
        "kv",
        env!("CARGO_MANIFEST_DIR"),
        BARE_PROMPT,
        &mutations::BARE_PROMPT_OFF_BY_ONE,
        "kv_cache.py",
    );
    let report = grade(&KvGrader, &sub, SEED);
    // As the interface's off_by_one: wrong numbers everywhere, the same batched or alone.
    let off_by_one = grade_fixture("off_by_one");
    let failing: Vec<&str> = off_by_one
        .criteria
        .iter()
        .filter(|r| r.verdict.label() == "FAIL")
        .map(|r| r.criterion.id.as_str())
        .collect();
    assert!(failing.contains(&ids::MATCHES), "{}", describe(&off_by_one));
    assert_fails_exactly(&report, &failing);
}
