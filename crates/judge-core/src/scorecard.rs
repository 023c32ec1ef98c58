//! The scorecard that turns criterion checks into results, failing closed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crate::criterion::{Criterion, CriterionKind, CriterionResult, Verdict};

/// Collects verdicts for a fixed list of criteria and fails closed: a criterion that was never
/// decided comes out as ERROR with the reason, never as PASS and never missing.
#[derive(Debug)]
pub struct Scorecard {
    slots: Vec<(Criterion, Option<(Verdict, f64)>)>,
}

impl Scorecard {
    /// A scorecard with every one of `criteria` still undecided.
    pub fn new(criteria: &[Criterion]) -> Self {
        Self {
            slots: criteria.iter().cloned().map(|c| (c, None)).collect(),
        }
    }

    /// Runs one check, timing it. A panic inside the check is our bug, not the submission's:
    /// it becomes a harness ERROR and the remaining criteria still run.
    pub fn check(&mut self, id: &str, check: impl FnOnce() -> Verdict) {
        let started = Instant::now();
        let verdict = catch_unwind(AssertUnwindSafe(check)).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Verdict::harness_error(format!("grader panicked: {message}"))
        });
        self.record(id, verdict, started.elapsed().as_secs_f64());
    }

    /// Records a verdict decided elsewhere. The first verdict for a criterion wins, so a later
    /// blanket "worker died" cannot overwrite results already computed.
    pub fn record(&mut self, id: &str, verdict: Verdict, seconds: f64) {
        match self.slots.iter_mut().find(|(c, _)| c.id == id) {
            Some((_, slot @ None)) => *slot = Some((verdict, seconds)),
            Some((_, Some(_))) => {}
            None => panic!("criterion '{id}' is not declared by this grader"),
        }
    }

    /// Whether `id` already has a verdict.
    pub fn is_decided(&self, id: &str) -> bool {
        self.slots
            .iter()
            .any(|(c, slot)| c.id == id && slot.is_some())
    }

    /// Gives every undecided criterion of `kind` the same verdict (e.g. all manual items
    /// "needs review", or every remaining check ERROR after the worker died).
    pub fn decide_remaining(&mut self, kind: Option<CriterionKind>, verdict: &Verdict) {
        for (criterion, slot) in &mut self.slots {
            if slot.is_none() && kind.is_none_or(|k| criterion.kind == k) {
                *slot = Some((verdict.clone(), 0.0));
            }
        }
    }

    /// Ids of the criteria of `kind` that have no verdict yet, in declaration order.
    pub fn undecided(&self, kind: CriterionKind) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(c, slot)| c.kind == kind && slot.is_none())
            .map(|(c, _)| c.id.clone())
            .collect()
    }

    /// The results in declaration order; anything undecided is ERROR with `undecided_reason`.
    pub fn finish(self, undecided_reason: &str) -> Vec<CriterionResult> {
        self.slots
            .into_iter()
            .map(|(criterion, slot)| {
                let (verdict, seconds) = slot.unwrap_or_else(|| {
                    (
                        Verdict::harness_error(format!("not decided: {undecided_reason}")),
                        0.0,
                    )
                });
                CriterionResult {
                    criterion,
                    verdict,
                    seconds,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria() -> Vec<Criterion> {
        vec![
            Criterion::auto("a", "first"),
            Criterion::auto("b", "second"),
            Criterion::manual("m", "prose"),
        ]
    }

    #[test]
    fn scorecard_fails_closed_on_undecided_criteria() {
        let mut card = Scorecard::new(&criteria());
        card.check("a", || Verdict::pass("ok"));
        let results = card.finish("worker died");
        assert!(results[0].verdict.is_pass());
        assert_eq!(results[1].verdict.label(), "ERROR");
        assert!(results[1].verdict.detail().contains("worker died"));
    }

    #[test]
    fn a_panicking_check_is_a_harness_error_and_later_checks_still_run() {
        let mut card = Scorecard::new(&criteria());
        card.check("a", || panic!("index out of bounds"));
        card.check("b", || Verdict::fail("max rel err 3e-2 > 1e-4"));
        let results = card.finish("unused");
        assert!(results[0].verdict.is_harness_fault());
        assert!(results[0].verdict.detail().contains("index out of bounds"));
        assert_eq!(results[1].verdict.label(), "FAIL");
    }

    #[test]
    fn the_first_verdict_wins() {
        let mut card = Scorecard::new(&criteria());
        card.record("a", Verdict::pass("computed"), 1.0);
        card.decide_remaining(None, &Verdict::error("worker died"));
        let results = card.finish("unused");
        assert!(results[0].verdict.is_pass());
        assert_eq!(results[1].verdict.label(), "ERROR");
        assert_eq!(results[2].verdict.label(), "ERROR");
    }

    #[test]
    fn decide_remaining_can_target_one_kind() {
        let mut card = Scorecard::new(&criteria());
        card.decide_remaining(
            Some(CriterionKind::Manual),
            &Verdict::skipped("manual: needs review"),
        );
        assert!(card.is_decided("m"));
        assert!(!card.is_decided("a"));
    }
}
