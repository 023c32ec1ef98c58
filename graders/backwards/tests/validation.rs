//! The grader is held to its own standard: the correct fixture passes every auto criterion,
//! each buggy fixture fails the criteria its bug breaks — the one naming its trap among them —
//! and null submissions pass no correctness criterion. The reference passes everything.

use grader_backwards::{BackwardsGrader, ids};
use grader_testkit::{
    assert_all_auto_pass, assert_correct_submission, assert_fails_exactly,
    assert_missing_entry_is_named, assert_null_submissions_fail, describe, evidence, grade,
    grade_reference, status, submission,
};

mod mutations;

const SEED: u64 = 20261127;

/// Every criterion that depends on the numbers being right.
const CORRECTNESS: [&str; 7] = [
    ids::FORWARD,
    ids::GRAD_X,
    ids::GRAD_GAMMA,
    ids::GRAD_BETA,
    ids::LARGE_OFFSET,
    ids::CONSTANT_ROWS,
    ids::FLOAT32,
];

/// Grades the fixture `name`: a mutation of `correct`, or a real folder of `tests/fixtures`.
fn grade_fixture(name: &str) -> judge_core::Report {
    grade(&BackwardsGrader, &mutations::FIXTURES.fixture(name), SEED)
}

#[test]
fn the_reference_passes_every_auto_criterion() {
    let report = grade_reference(&BackwardsGrader, SEED);
    assert_all_auto_pass(&report);
}

#[test]
fn a_correct_submission_passes_every_auto_criterion() {
    assert_correct_submission(&grade_fixture("correct"), "layer_norm.py");
}

#[test]
fn a_one_pass_variance_fails_only_at_a_large_offset() {
    let report = grade_fixture("one_pass_variance");
    assert_fails_exactly(&report, &[ids::LARGE_OFFSET]);
}

#[test]
fn dgamma_summed_over_the_wrong_axes_fails_dgamma_only() {
    let report = grade_fixture("dgamma_wrong_axes");
    assert_fails_exactly(&report, &[ids::GRAD_GAMMA]);
    let detail = evidence(&report, ids::GRAD_GAMMA);
    assert!(detail.contains("dgamma: shape"), "{}", describe(&report));
}

#[test]
fn dx_without_the_variance_term_fails_every_check_of_dx() {
    let report = grade_fixture("dx_missing_term");
    // Exactly constant rows have x̂ = 0, where the missing term vanishes; near-constant ones
    // have x̂ ~ 3e-5, where it is ~1e-9: both pass, every other case of dx fails.
    assert_fails_exactly(&report, &[ids::GRAD_X, ids::LARGE_OFFSET, ids::FLOAT32]);
    assert!(
        evidence(&report, ids::GRAD_X).contains(": dx: max rel err"),
        "{}",
        describe(&report)
    );
}

#[test]
fn a_missing_eps_fails_on_constant_rows_as_non_finite() {
    let report = grade_fixture("eps_missing");
    assert_fails_exactly(&report, &[ids::CONSTANT_ROWS]);
    assert!(
        evidence(&report, ids::CONSTANT_ROWS).contains("non-finite"),
        "{}",
        describe(&report)
    );
}

/// A renamed pair of functions, a class instance as the cache (it stays in the worker and goes
/// back by handle) and a dict of gradients: all within the contract's accepted forms.
#[test]
fn an_accepted_renaming_with_an_object_cache_passes_and_is_noted() {
    let source = r#"
import numpy as np

class Saved:
    def __init__(self, x_hat, inv_std, gamma):
        self.x_hat, self.inv_std, self.gamma = x_hat, inv_std, gamma

def layernorm_forward(x, gamma, beta, epsilon=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + epsilon)
    x_hat = (x - mu) * inv_std
    return gamma * x_hat + beta, Saved(x_hat, inv_std, gamma)

def layernorm_backward(dy, saved):
    g = dy * saved.gamma
    dx = saved.inv_std * (g - g.mean(-1, keepdims=True)
                          - saved.x_hat * (g * saved.x_hat).mean(-1, keepdims=True))
    return {"dx": dx, "dgamma": (dy * saved.x_hat).sum((0, 1)), "dbeta": dy.sum((0, 1))}
"#;
    let sub = submission("backwards", &[("ln.py", source)]);
    let report = grade(&BackwardsGrader, &sub, SEED);
    assert_all_auto_pass(&report);
    let notes = report.notes.join("\n");
    assert!(
        notes.contains("layernorm_forward(x, gamma, beta, epsilon=1e-5)"),
        "{notes}"
    );
}

#[test]
fn null_submissions_pass_no_correctness_criterion() {
    assert_null_submissions_fail(
        &BackwardsGrader,
        SEED,
        "layer_norm.py",
        &["layer_norm_forward", "layer_norm_backward"],
        &CORRECTNESS,
        ids::FORWARD,
    );
}

#[test]
fn a_forward_without_its_backward_is_an_error_naming_the_backward() {
    let report = assert_missing_entry_is_named(
        &BackwardsGrader,
        SEED,
        &[(
            "layer_norm.py",
            "def layer_norm_forward(x, gamma, beta, eps=1e-5):\n    return x, None\n",
        )],
        ids::FORWARD,
        "`layer_norm_backward`",
    );
    for id in CORRECTNESS {
        assert_eq!(status(&report, id), "ERROR", "{}", describe(&report));
    }
}

/// The answer written to the bare prompt (differently named functions and a named-tuple cache),
/// with the adapter that maps it onto the interface.
const BARE_PROMPT: &str = "bare_prompt";

#[test]
fn a_bare_prompt_answer_is_a_contract_error_without_its_adapter_and_passes_with_it() {
    // The evidence names what is missing and what the interface expected.
    grader_testkit::assert_bare_prompt_answer_needs_its_adapter(
        &BackwardsGrader,
        env!("CARGO_MANIFEST_DIR"),
        BARE_PROMPT,
        SEED,
        &["missing", "expected"],
    );
}

#[test]
fn a_bare_prompt_answer_with_dx_without_the_variance_term_fails_through_its_adapter() {
    let sub = grader_testkit::mutated_bare_prompt(
        "backwards",
        env!("CARGO_MANIFEST_DIR"),
        BARE_PROMPT,
        &mutations::BARE_PROMPT_DX_MISSING_TERM,
        "layernorm.py",
    );
    let report = grade(&BackwardsGrader, &sub, SEED);
    assert_fails_exactly(&report, &[ids::GRAD_X, ids::LARGE_OFFSET, ids::FLOAT32]);
}
