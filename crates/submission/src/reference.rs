//! Grading the Rust reference: the shared criteria as the reference sees them.

use judge_core::{Criterion, CriterionKind, Graded, Scorecard, Verdict};

use crate::criteria::{NO_FRAMEWORKS, SELF_TEST};

/// Grades the Rust reference: the challenge's own auto criteria in `decide`, the shared ones
/// as the reference sees them ([`decide_reference_shared`]). `criteria` is the grader's full list.
pub fn grade_reference(criteria: &[Criterion], decide: impl FnOnce(&mut Scorecard)) -> Graded {
    let mut card = Scorecard::new(criteria);
    decide(&mut card);
    decide_reference_shared(&mut card);
    Graded {
        results: card.finish("the reference did not reach it"),
        ..Graded::default()
    }
}

/// The shared criteria as the reference sees them: Rust has no Python frameworks to import,
/// and its own tests run under `cargo test`, not as a submission's self-test.
pub fn decide_reference_shared(card: &mut Scorecard) {
    card.record(
        NO_FRAMEWORKS,
        Verdict::pass("Rust reference: no Python at all"),
        0.0,
    );
    card.record(
        SELF_TEST,
        Verdict::skipped("the reference's own tests run under cargo test"),
        0.0,
    );
    card.decide_remaining(
        Some(CriterionKind::Manual),
        &Verdict::skipped("manual: the reference documents this in its doc comments"),
    );
}
