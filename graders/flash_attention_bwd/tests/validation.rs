//! The grader is held to its own standard: the correct fixture passes every auto criterion,
//! each buggy fixture fails the criteria its bug breaks — the one naming its trap among them,
//! with evidence that names the wrong gradient — and null submissions pass no correctness
//! criterion. (The reference is graded in `tests/reference.rs`.)

use grader_flash_attention_bwd::{FlashAttentionBwdGrader, ids};
use grader_testkit::{
    assert_all_auto_pass, assert_correct_submission, assert_fails_exactly,
    assert_missing_entry_is_named, assert_null_submissions_fail, describe, evidence, grade,
};
use judge_core::Report;

mod mutations;

const SEED: u64 = 20261127;

/// Every criterion that depends on the numbers being right.
const CORRECTNESS: [&str; 10] = [
    ids::OUTPUT,
    ids::LSE,
    ids::CACHE,
    ids::GRADIENTS_CAUSAL,
    ids::GRADIENTS_NON_CAUSAL,
    ids::ACCUMULATES,
    ids::WHOLE_ROW_D,
    ids::MEMORY_FORWARD,
    ids::MEMORY_BACKWARD,
    ids::MEMORY_ENFORCED,
];

/// What a wrong gradient breaks: every criterion that checks dQ, dK or dV where several
/// tiles cover a row (all of them; the memory ones only count right answers).
const GRADIENT_CRITERIA: [&str; 6] = [
    ids::GRADIENTS_CAUSAL,
    ids::GRADIENTS_NON_CAUSAL,
    ids::ACCUMULATES,
    ids::WHOLE_ROW_D,
    ids::MEMORY_BACKWARD,
    ids::MEMORY_ENFORCED,
];

/// Grades the fixture `name`: a mutation of `correct`, or a real folder of `tests/fixtures`.
fn grade_fixture(name: &str) -> Report {
    grade(
        &FlashAttentionBwdGrader,
        &mutations::FIXTURES.fixture(name),
        SEED,
    )
}

/// Asserts the evidence of `id` says "wrong" followed by exactly these gradients.
fn assert_names_wrong(report: &Report, id: &str, gradients: &str) {
    let detail = evidence(report, id);
    assert!(
        detail.contains(&format!("wrong {gradients}:")),
        "{id} should name wrong {gradients}:\n{}",
        describe(report)
    );
}

#[test]
fn a_correct_submission_passes_every_auto_criterion() {
    assert_correct_submission(&grade_fixture("correct"), "flash_attention_bwd.py");
}

#[test]
fn extra_entries_and_an_object_in_the_cache_make_the_round_trip() {
    let report = grade_fixture("cache_extras");
    assert_all_auto_pass(&report);
}

#[test]
fn an_overwritten_dq_is_caught_and_named() {
    let report = grade_fixture("overwrites_dq");
    assert_fails_exactly(&report, &GRADIENT_CRITERIA);
    assert_names_wrong(&report, ids::ACCUMULATES, "dQ");
}

#[test]
fn overwritten_dk_and_dv_are_caught_and_named() {
    let report = grade_fixture("overwrites_dk_dv");
    assert_fails_exactly(&report, &GRADIENT_CRITERIA);
    assert_names_wrong(&report, ids::ACCUMULATES, "dK, dV");
}

#[test]
fn l_stored_as_the_max_only_is_caught() {
    let report = grade_fixture("lse_is_max");
    let mut failing = vec![ids::LSE];
    failing.extend(GRADIENT_CRITERIA);
    assert_fails_exactly(&report, &failing);
    assert!(evidence(&report, ids::LSE).contains("m + log(l)"));
}

#[test]
fn a_missing_d_term_is_caught_in_dq_and_dk() {
    let report = grade_fixture("no_d_term");
    assert_fails_exactly(&report, &GRADIENT_CRITERIA);
    assert_names_wrong(&report, ids::WHOLE_ROW_D, "dQ, dK");
}

#[test]
fn the_literal_step_2e_is_caught_and_recognised() {
    let report = grade_fixture("d_within_tile");
    assert_fails_exactly(&report, &GRADIENT_CRITERIA);
    assert_names_wrong(&report, ids::WHOLE_ROW_D, "dQ, dK");
    assert!(
        evidence(&report, ids::WHOLE_ROW_D).contains("step 2e taken literally"),
        "{}",
        describe(&report)
    );
    // A different bug with the same wrong gradients is not mistaken for it.
    let no_d = grade_fixture("no_d_term");
    assert!(!evidence(&no_d, ids::WHOLE_ROW_D).contains("step 2e"));
}

#[test]
fn materialising_nxn_in_the_forward_fails_its_memory_criteria_only() {
    let report = grade_fixture("materializes_forward");
    assert_fails_exactly(&report, &[ids::MEMORY_FORWARD, ids::MEMORY_ENFORCED]);
    assert!(evidence(&report, ids::MEMORY_ENFORCED).contains("flash_attention_fwd"));
}

#[test]
fn materialising_nxn_in_the_backward_fails_its_memory_criteria_only() {
    let report = grade_fixture("materializes_backward");
    assert_fails_exactly(&report, &[ids::MEMORY_BACKWARD, ids::MEMORY_ENFORCED]);
    assert!(evidence(&report, ids::MEMORY_ENFORCED).contains("flash_attention_bwd"));
}

#[test]
fn keeping_p_in_the_cache_is_caught_by_the_cache_criterion() {
    let report = grade_fixture("caches_probabilities");
    assert_fails_exactly(
        &report,
        &[ids::CACHE, ids::MEMORY_FORWARD, ids::MEMORY_ENFORCED],
    );
    assert!(
        evidence(&report, ids::CACHE).contains("cache['P'] has shape"),
        "{}",
        describe(&report)
    );
}

#[test]
fn an_object_cache_makes_the_round_trip_but_cannot_be_inspected() {
    let report = grade_fixture("cache_object");
    assert_fails_exactly(&report, &[ids::LSE, ids::CACHE]);
    assert!(
        evidence(&report, ids::LSE).contains("not a dict"),
        "{}",
        describe(&report)
    );
}

#[test]
fn null_submissions_pass_no_correctness_criterion() {
    assert_null_submissions_fail(
        &FlashAttentionBwdGrader,
        SEED,
        "flash_attention_bwd.py",
        &["flash_attention_fwd", "flash_attention_bwd"],
        &CORRECTNESS,
        ids::GRADIENTS_CAUSAL,
    );
}

#[test]
fn a_submission_without_the_backward_is_an_error_naming_it() {
    assert_missing_entry_is_named(
        &FlashAttentionBwdGrader,
        SEED,
        &[(
            "flash_attention_bwd.py",
            "def flash_attention_fwd(Q, K, V, tile_size, causal=True):\n    return Q, {}\n",
        )],
        ids::GRADIENTS_CAUSAL,
        "flash_attention_bwd",
    );
}
