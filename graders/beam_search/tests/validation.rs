//! The grader is held to its own standard: the reference and the correct fixture pass every
//! auto criterion, each buggy fixture fails the criteria its bug breaks — the one naming its
//! trap among them — and null submissions pass no correctness criterion. The NumPy TinyLM twin
//! the submission receives computes the Rust model's logits, checked end to end through the
//! bridge.

use std::path::Path;

use grader_beam_search::{BeamSearchGrader, ids, python_fixtures};
use grader_testkit::{
    assert_all_auto_pass, assert_correct_submission, assert_fails_exactly,
    assert_missing_entry_is_named, assert_null_submissions_fail, describe, evidence,
    fixture_worker, grade, grade_reference, submission,
};
use judge_runner::{Limits, Target, Value};
use judge_submission::tiny_lm_twin::new_twin;
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tiny_lm::{LanguageModel, TinyLm, VOCAB_SIZE};

mod mutations;

const SEED: u64 = 20261127;

/// Every criterion that depends on the search being right.
const CORRECTNESS: [&str; 8] = [
    ids::GREEDY,
    ids::INDEPENDENCE,
    ids::EOS_RETENTION,
    ids::PROMPT_NOT_IN_LENGTH,
    ids::SORTED_SCORES,
    ids::CUT_OFF,
    ids::LOG_SPACE,
    ids::MATCHES_REFERENCE,
];

/// Grades the fixture `name`: a real folder, or a mutation of `correct`.
fn grade_fixture(name: &str) -> judge_core::Report {
    grade(&BeamSearchGrader, &mutations::FIXTURES.fixture(name), SEED)
}

#[test]
fn the_reference_passes_every_auto_criterion() {
    let report = grade_reference(&BeamSearchGrader, SEED);
    assert_all_auto_pass(&report);
}

#[test]
fn a_correct_submission_passes_every_auto_criterion() {
    assert_correct_submission(&grade_fixture("correct"), "beam_search.py");
}

#[test]
fn the_model_parameter_is_bound_by_name_wherever_it_stands() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/correct/beam_search.py"),
    )
    .unwrap();
    let model_first = source.replace(
        "def batched_beam_search(prompts, beam_width, max_new_tokens, alpha=0.6, eos_token_id=0, model=None):",
        "def batched_beam_search(model, prompts, beam_width, max_new_tokens, alpha=0.6, eos_token_id=0):",
    );
    assert_ne!(model_first, source, "the signature to move was found");
    let sub = submission("beam_search", &[("beam_search.py", model_first.as_str())]);
    assert_all_auto_pass(&grade(&BeamSearchGrader, &sub, SEED));
}

/// What dropping finished beams breaks: every trap with an early EOS beam among the winners.
const DROPPED_EOS_BEAMS_BREAK: &[&str] = &[
    ids::EOS_RETENTION,
    ids::PROMPT_NOT_IN_LENGTH,
    ids::CUT_OFF,
    ids::MATCHES_REFERENCE,
];

#[test]
fn dropping_finished_beams_is_caught() {
    let report = grade_fixture("drops_eos_beams");
    assert_fails_exactly(&report, DROPPED_EOS_BEAMS_BREAK);
    assert!(
        evidence(&report, ids::EOS_RETENTION).contains("finished beam is missing"),
        "{}",
        describe(&report)
    );
}

#[test]
fn counting_the_prompt_in_the_length_is_caught() {
    let report = grade_fixture("prompt_in_length");
    assert_fails_exactly(
        &report,
        &[ids::PROMPT_NOT_IN_LENGTH, ids::SORTED_SCORES, ids::CUT_OFF],
    );
    assert!(
        evidence(&report, ids::SORTED_SCORES).contains("generated tokens only"),
        "{}",
        describe(&report)
    );
}

#[test]
fn beams_shared_across_batch_items_are_caught() {
    let report = grade_fixture("shared_beams");
    // A shared pool also hands a confident item more than K beams (malformed output).
    assert_fails_exactly(
        &report,
        &[
            ids::INDEPENDENCE,
            ids::SORTED_SCORES,
            ids::MATCHES_REFERENCE,
        ],
    );
    assert!(
        evidence(&report, ids::INDEPENDENCE).contains("differs from its result alone"),
        "{}",
        describe(&report)
    );
}

#[test]
fn output_not_sorted_by_the_penalized_score_is_caught() {
    let report = grade_fixture("unsorted_output");
    assert_fails_exactly(
        &report,
        &[ids::SORTED_SCORES, ids::PROMPT_NOT_IN_LENGTH, ids::CUT_OFF],
    );
    assert!(
        evidence(&report, ids::SORTED_SCORES).contains("not best first"),
        "{}",
        describe(&report)
    );
}

#[test]
fn null_submissions_pass_no_correctness_criterion() {
    assert_null_submissions_fail(
        &BeamSearchGrader,
        SEED,
        "beam_search.py",
        &["batched_beam_search"],
        &CORRECTNESS,
        ids::GREEDY,
    );
}

#[test]
fn a_submission_without_the_contract_function_is_an_error_naming_it() {
    assert_missing_entry_is_named(
        &BeamSearchGrader,
        SEED,
        &[("search.py", "def beam_search(prompts, k):\n    return []\n")],
        ids::GREEDY,
        "batched_beam_search",
    );
}

fn max_abs_diff(got: &Value, expected: &Array2<f64>) -> f64 {
    let got = got.to_f64_array().expect("logits are numeric");
    assert_eq!(got.shape(), expected.shape());
    (&got - &expected.clone().into_dyn())
        .abs()
        .fold(0.0, |m: f64, &d| m.max(d))
}

#[test]
fn the_python_twins_compute_the_rust_models_logits_through_the_bridge() {
    let (mut worker, _dir) = fixture_worker(python_fixtures());
    let model = TinyLm::random(77);
    let tiny = new_twin(&mut worker, &model).expect("TinyLM twin");
    let timeout = Limits::default().call_timeout;

    // Arbitrary masks (diagonal kept): the tree-mask path; and batched next-token logits.
    let mut rng = StdRng::seed_from_u64(5);
    let mut worst = 0.0f64;
    for len in [1, 6, 23] {
        let tokens: Vec<u32> = (0..len)
            .map(|_| rng.random_range(0..VOCAB_SIZE as u32))
            .collect();
        let mask = Array2::from_shape_fn((len, len), |(i, j)| i == j || rng.random_bool(0.5));
        let ids = Array1::from_iter(tokens.iter().map(|&t| i64::from(t)));
        let got = worker
            .call(
                Target::Method(tiny, "forward".into()),
                vec![ids.into(), mask.clone().into()],
                Vec::new(),
                timeout,
            )
            .expect("forward");
        worst = worst.max(max_abs_diff(
            &got.value,
            &model.logits(&tokens, mask.view()).unwrap(),
        ));
    }
    let sequences: Vec<Vec<u32>> = vec![vec![5], vec![1, 2, 3], vec![999, 0, 7, 7, 12]];
    let as_lists = sequences
        .iter()
        .map(|s| Value::List(s.iter().map(|&t| Value::Int(i64::from(t))).collect()))
        .collect();
    let got = worker
        .call(
            Target::Method(tiny, "next_token_logits".into()),
            vec![Value::List(as_lists)],
            Vec::new(),
            timeout,
        )
        .expect("next_token_logits");
    let refs: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    worst = worst.max(max_abs_diff(
        &got.value,
        &model.next_token_logits_batch(&refs).unwrap(),
    ));
    assert!(worst <= 1e-9, "TinyLM twin differs by {worst:e}");
}

/// Models answer the natural calls (issue 15): `forward(ids)` and `forward(ids, None)`, with
/// the ids a list or an array, are the causal forward, and still counted.
#[test]
fn the_fixture_models_take_the_mask_as_optional_and_causal() {
    let (mut worker, _dir) = fixture_worker(python_fixtures());
    let model = TinyLm::random(78);
    let tiny = new_twin(&mut worker, &model).expect("TinyLM twin");
    let timeout = Limits::default().call_timeout;
    let tokens: Vec<u32> = vec![3, 141, 59, 26, 535, 8];
    let expected = model
        .logits(&tokens, tiny_lm::causal_mask(tokens.len()).view())
        .unwrap();
    let ids = || Array1::from_iter(tokens.iter().map(|&t| i64::from(t)));
    let as_list = || Value::List(tokens.iter().map(|&t| Value::Int(i64::from(t))).collect());
    for (method, args) in [
        ("forward", vec![ids().into()]),
        ("forward", vec![ids().into(), Value::None]),
        ("forward", vec![as_list()]),
        ("__call__", vec![as_list(), Value::None]),
    ] {
        let got = worker
            .call(
                Target::Method(tiny, method.into()),
                args,
                Vec::new(),
                timeout,
            )
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(max_abs_diff(&got.value, &expected) < 1e-9, "{method}");
    }
}

/// The answer written to the bare prompt (model first, its own forward call, Hypothesis
/// objects), with the adapter that maps it onto the interface.
const BARE_PROMPT: &str = "bare_prompt";

#[test]
fn a_bare_prompt_answer_is_a_contract_error_without_its_adapter_and_passes_with_it() {
    // The evidence says what the interface declares and what the answer's signature is.
    grader_testkit::assert_bare_prompt_answer_needs_its_adapter(
        &BeamSearchGrader,
        env!("CARGO_MANIFEST_DIR"),
        BARE_PROMPT,
        SEED,
        &[
            "expected batched_beam_search(prompts,",
            "found batched_beam_search(lm, prompt_token_ids,",
        ],
    );
}

#[test]
fn a_bare_prompt_answer_that_drops_finished_beams_fails_through_its_adapter() {
    let sub = grader_testkit::mutated_bare_prompt(
        "beam_search",
        env!("CARGO_MANIFEST_DIR"),
        BARE_PROMPT,
        &mutations::BARE_PROMPT_DROPS_EOS_BEAMS,
        "beam_search.py",
    );
    let report = grade(&BeamSearchGrader, &sub, SEED);
    assert_fails_exactly(&report, DROPPED_EOS_BEAMS_BREAK);
}
