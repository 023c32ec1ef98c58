//! The grader is held to its own standard: the correct fixture passes every auto criterion,
//! each buggy fixture fails the criteria its bug breaks — the one naming its trap among them —
//! and null submissions pass no correctness criterion. The reference passes everything.

use grader_flash_attention::{FlashAttentionGrader, ids};
use grader_testkit::{
    assert_all_auto_pass, assert_correct_submission, assert_fails_exactly,
    assert_missing_entry_is_named, assert_null_submissions_fail, describe, evidence, grade,
    grade_reference, status,
};
use judge_heap::CountingAllocator;

/// The reference's memory criteria measure its heap with the same allocator `judge` installs.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

mod mutations;

const SEED: u64 = 20261127;

/// Every criterion that depends on the numbers being right.
const CORRECTNESS: [&str; 9] = [
    ids::CAUSAL,
    ids::NON_CAUSAL,
    ids::RAGGED_TILES,
    ids::FLOAT32,
    ids::ONLINE_RESCALE,
    ids::LARGE_SCORES,
    ids::MASKED_TILES,
    ids::MEMORY_TRACED,
    ids::MEMORY_ENFORCED,
];

/// What breaks when causal masking goes wrong: every suite with a causal case.
const CAUSAL_SUITES: [&str; 7] = [
    ids::CAUSAL,
    ids::RAGGED_TILES,
    ids::FLOAT32,
    ids::LARGE_SCORES,
    ids::MASKED_TILES,
    ids::MEMORY_TRACED,
    ids::MEMORY_ENFORCED,
];

/// Grades the fixture `name`: a mutation of `correct`, or a real folder of `tests/fixtures`.
fn grade_fixture(name: &str) -> judge_core::Report {
    grade(
        &FlashAttentionGrader,
        &mutations::FIXTURES.fixture(name),
        SEED,
    )
}

#[test]
fn the_reference_passes_every_auto_criterion() {
    let report = grade_reference(&FlashAttentionGrader, SEED);
    assert_all_auto_pass(&report);
}

#[test]
fn a_correct_submission_passes_every_auto_criterion() {
    assert_correct_submission(&grade_fixture("correct"), "flash_attention.py");
}

#[test]
fn an_inverted_rescale_factor_is_caught() {
    let report = grade_fixture("rescale_inverted");
    assert_fails_exactly(&report, &CORRECTNESS);
}

#[test]
fn unmasked_partial_blocks_are_caught_and_non_causal_still_passes() {
    let report = grade_fixture("no_partial_mask");
    assert_fails_exactly(&report, &CAUSAL_SUITES);
}

#[test]
fn nan_from_a_fully_masked_first_tile_is_caught_as_non_finite() {
    let report = grade_fixture("nan_masked_tile");
    assert_fails_exactly(&report, &CAUSAL_SUITES);
    assert!(
        evidence(&report, ids::MASKED_TILES).contains("non-finite"),
        "{}",
        describe(&report)
    );
}

#[test]
fn materialising_the_nxn_matrix_fails_both_memory_criteria_only() {
    let report = grade_fixture("materializes_nxn");
    assert_fails_exactly(&report, &[ids::MEMORY_TRACED, ids::MEMORY_ENFORCED]);
    let enforced = status(&report, ids::MEMORY_ENFORCED);
    assert_eq!(enforced, "FAIL");
}

#[test]
fn stopping_tracemalloc_does_not_hide_an_nxn_matrix() {
    let report = grade_fixture("hides_from_tracemalloc");
    assert_fails_exactly(&report, &[ids::MEMORY_TRACED, ids::MEMORY_ENFORCED]);
}

#[test]
fn null_submissions_pass_no_correctness_criterion() {
    assert_null_submissions_fail(
        &FlashAttentionGrader,
        SEED,
        "flash_attention.py",
        &["flash_attention_fwd"],
        &CORRECTNESS,
        ids::CAUSAL,
    );
}

#[test]
fn a_submission_without_the_contract_function_is_an_error_naming_it() {
    assert_missing_entry_is_named(
        &FlashAttentionGrader,
        SEED,
        &[("attn.py", "def attention(q, k, v):\n    return q\n")],
        ids::CAUSAL,
        "flash_attention_fwd",
    );
}
