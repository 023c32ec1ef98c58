//! The grader is held to its own standard: the reference and the correct fixture pass every
//! auto criterion, each buggy fixture fails the criteria its bug breaks — the one naming its
//! trap among them — and null submissions pass no correctness criterion. The NumPy TinyLM twin
//! the submission receives as its target computes the Rust model's logits under tree masks,
//! checked end to end through the bridge.

use dflash_verify::build_tree_mask;
use dflash_verify::fixtures::random_tree_parents;
use grader_dflash_verify::{DflashVerifyGrader, ids};
use grader_testkit::{
    assert_all_auto_pass, assert_correct_submission, assert_fails_exactly,
    assert_missing_entry_is_named, assert_null_submissions_fail, describe, evidence,
    fixture_worker, grade, grade_reference, status, submission,
};
use judge_runner::{Limits, Target};
use judge_submission::tiny_lm_twin::{new_twin, python_module};
use ndarray::Array1;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tiny_lm::{LanguageModel, TinyLm, VOCAB_SIZE};

mod mutations;

const SEED: u64 = 20261127;

/// Every criterion that depends on the answers being right.
const CORRECTNESS: [&str; 7] = [
    ids::TREE_MASK,
    ids::GOLDEN,
    ids::THREE_ROOTS,
    ids::SUBTREE,
    ids::REPLACEMENT,
    ids::MULTI_STEP,
    ids::ONE_FORWARD,
];

/// Grades the fixture `name`: a real folder, or a mutation of `correct`.
fn grade_fixture(name: &str) -> judge_core::Report {
    grade(
        &DflashVerifyGrader,
        &mutations::FIXTURES.fixture(name),
        SEED,
    )
}

#[test]
fn the_reference_passes_every_auto_criterion() {
    let report = grade_reference(&DflashVerifyGrader, SEED);
    assert_all_auto_pass(&report);
}

#[test]
fn a_correct_submission_passes_every_auto_criterion() {
    assert_correct_submission(&grade_fixture("correct"), "dflash_verify.py");
}

#[test]
fn reading_the_logits_at_p_plus_i_is_caught() {
    let report = grade_fixture("logits_at_p_plus_i");
    assert_fails_exactly(&report, &CORRECTNESS[1..6]);
}

#[test]
fn a_subtree_that_is_not_invalidated_is_caught() {
    let report = grade_fixture("no_subtree_invalidation");
    assert_fails_exactly(
        &report,
        &[ids::GOLDEN, ids::SUBTREE, ids::REPLACEMENT, ids::MULTI_STEP],
    );
}

#[test]
fn a_mask_that_lets_siblings_see_each_other_is_caught() {
    let report = grade_fixture("mask_sees_siblings");
    // Random trees and sibling roots break; chains and right-paths-first trees do not.
    assert_fails_exactly(&report, &[ids::TREE_MASK, ids::GOLDEN, ids::THREE_ROOTS]);
    assert!(
        evidence(&report, ids::TREE_MASK).contains("must not see column node"),
        "{}",
        describe(&report)
    );
}

#[test]
fn processing_on_after_a_rejection_is_caught() {
    let report = grade_fixture("keeps_processing_after_rejection");
    assert_fails_exactly(&report, &CORRECTNESS[1..6]);
}

#[test]
fn one_forward_per_node_is_caught() {
    let report = grade_fixture("forward_per_node");
    assert_fails_exactly(&report, &[ids::ONE_FORWARD]);
    assert!(
        evidence(&report, ids::ONE_FORWARD).contains("calls on the target model"),
        "{}",
        describe(&report)
    );
}

#[test]
fn null_submissions_pass_no_correctness_criterion() {
    assert_null_submissions_fail(
        &DflashVerifyGrader,
        SEED,
        "dflash_verify.py",
        &["build_tree_mask", "verify_and_accept"],
        &CORRECTNESS,
        ids::GOLDEN,
    );
}

#[test]
fn a_submission_without_the_contract_functions_is_an_error_naming_them() {
    assert_missing_entry_is_named(
        &DflashVerifyGrader,
        SEED,
        &[(
            "verify.py",
            "def build_tree_mask(prompt_len, tree_parents):\n    return None\n",
        )],
        ids::GOLDEN,
        "verify_and_accept",
    );
}

#[test]
fn the_python_twin_computes_the_rust_logits_under_tree_masks_through_the_bridge() {
    let (mut worker, _dir) = fixture_worker(vec![python_module()]);
    let model = TinyLm::random(31);
    let twin = new_twin(&mut worker, &model).expect("TinyLM twin");

    let mut rng = StdRng::seed_from_u64(3);
    let mut worst = 0.0f64;
    for prompt_len in [1, 9, 40] {
        let parents = random_tree_parents(&mut rng, 4, 3);
        let len = prompt_len + parents.len();
        let tokens: Vec<u32> = (0..len)
            .map(|_| rng.random_range(0..VOCAB_SIZE as u32))
            .collect();
        let mask = build_tree_mask(prompt_len, &parents).unwrap();
        let ids = Array1::from_iter(tokens.iter().map(|&t| i64::from(t)));
        let got = worker
            .call(
                Target::Method(twin, "forward".into()),
                vec![ids.into(), mask.clone().into()],
                Vec::new(),
                Limits::default().call_timeout,
            )
            .expect("forward")
            .value
            .to_f64_array()
            .expect("logits are numeric");
        let expected = model.logits(&tokens, mask.view()).unwrap().into_dyn();
        assert_eq!(got.shape(), expected.shape());
        worst = (&got - &expected).abs().fold(worst, |m, &d| m.max(d));
    }
    assert!(worst <= 1e-9, "TinyLM twin differs by {worst:e}");
}

/// The answer written to the bare prompt (other names, an additive mask and one flat list
/// returned), with the adapter that maps it onto the interface.
const BARE_PROMPT: &str = "bare_prompt";

#[test]
fn a_bare_prompt_answer_is_a_contract_error_without_its_adapter_and_passes_with_it() {
    // The evidence names what is missing and what the interface expected.
    grader_testkit::assert_bare_prompt_answer_needs_its_adapter(
        &DflashVerifyGrader,
        env!("CARGO_MANIFEST_DIR"),
        BARE_PROMPT,
        SEED,
        &["missing", "expected"],
    );
}

#[test]
fn a_bare_prompt_answer_with_no_subtree_invalidation_fails_through_its_adapter() {
    let sub = grader_testkit::mutated_bare_prompt(
        "dflash_verify",
        env!("CARGO_MANIFEST_DIR"),
        BARE_PROMPT,
        &mutations::BARE_PROMPT_NO_SUBTREE_INVALIDATION,
        "dflash.py",
    );
    let report = grade(&DflashVerifyGrader, &sub, SEED);
    assert_fails_exactly(
        &report,
        &[ids::GOLDEN, ids::SUBTREE, ids::REPLACEMENT, ids::MULTI_STEP],
    );
}

/// The case: a correct verifier returning accepted + [new_token] as one list where
/// the interface asks for the pair. It is not a wrong answer (no FAIL): every criterion that
/// reads the verifier's return is a contract ERROR saying why, and the mask still passes.
#[test]
fn one_flat_list_instead_of_the_pair_is_a_contract_error_not_a_wrong_answer() {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/correct/dflash_verify.py"),
    )
    .unwrap();
    let flat = source.replace(
        "    return accepted, new_token\n",
        "    return accepted + [new_token]\n",
    );
    assert_ne!(flat, source, "the return to change was found");
    let sub = submission("dflash_verify", &[("dflash_verify.py", flat.as_str())]);
    let report = grade(&DflashVerifyGrader, &sub, SEED);
    // (Its own self-test, written for the pair, fails: that is not a graded answer.)
    let failed: Vec<_> = report
        .criteria
        .iter()
        .filter(|r| r.criterion.kind == judge_core::CriterionKind::Auto)
        .filter(|r| r.verdict.label() == "FAIL")
        .map(|r| r.criterion.id.as_str())
        .collect();
    assert!(failed.is_empty(), "{failed:?} FAIL\n{}", describe(&report));
    assert_eq!(
        status(&report, ids::TREE_MASK),
        "PASS",
        "{}",
        describe(&report)
    );
    let golden = report
        .criteria
        .iter()
        .find(|r| r.criterion.id == ids::GOLDEN)
        .expect("golden criterion");
    assert!(golden.verdict.is_contract_fault(), "{}", describe(&report));
    assert!(
        golden.verdict.detail().contains("one flat list"),
        "{}",
        describe(&report)
    );
}
