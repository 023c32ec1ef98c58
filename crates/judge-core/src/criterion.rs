//! Criteria, verdicts, and the scorecard that turns criterion checks into results.
//!
//! A grader declares its criteria once; the same list is used for the Rust reference and for a
//! submission, so `judge reference` and `judge grade` run identical checks.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Who decides a criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    /// Decided by the harness from hidden tests. Only these count towards the score.
    Auto,
    /// The submission's own tests or demo, run in the sandbox: weak evidence, shown apart.
    SelfTest,
    /// Prose the prompt asks for (analysis, explanations): listed for a human reviewer and never
    /// counted as passed.
    Manual,
}

impl CriterionKind {
    pub fn label(self) -> &'static str {
        match self {
            CriterionKind::Auto => "auto",
            CriterionKind::SelfTest => "self_test",
            CriterionKind::Manual => "manual",
        }
    }
}

/// One pass/fail requirement of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// Stable, machine-friendly id, unique within its challenge (`eos_retention`).
    pub id: String,
    /// What the prompt asks, in a few words.
    pub title: String,
    pub kind: CriterionKind,
    /// Relative weight within the challenge's auto criteria.
    pub weight: u32,
}

impl Criterion {
    pub fn auto(id: &str, title: &str) -> Self {
        Self::new(id, title, CriterionKind::Auto, 1)
    }

    pub fn self_test(id: &str, title: &str) -> Self {
        Self::new(id, title, CriterionKind::SelfTest, 1)
    }

    pub fn manual(id: &str, title: &str) -> Self {
        Self::new(id, title, CriterionKind::Manual, 0)
    }

    pub fn new(id: &str, title: &str, kind: CriterionKind, weight: u32) -> Self {
        Self {
            id: id.to_string(),
            title: title.to_string(),
            kind,
            weight,
        }
    }

    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }
}

/// Whose fault an ERROR is: a broken submission costs the model; a harness fault (our bug, a
/// missing interpreter) is reported apart and makes `judge` exit 2. A contract fault is the
/// submission's too (it scores like any ERROR) but says the answer could not be checked because
/// it does not meet the interface (missing name, wrong signature or return type), which a reader
/// must be able to tell from a wrong algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    #[default]
    Submission,
    Harness,
    Contract,
}

/// The outcome of one criterion, always with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Ran and met the requirement; the evidence says by how much (e.g. `max rel err 3.1e-12`).
    Pass { evidence: String },
    /// Ran and missed it; the evidence says how (first differing token, peak bytes vs limit...).
    Fail { evidence: String },
    /// Could not be run or decided: exception, timeout, memory limit, missing function.
    Error {
        evidence: String,
        #[serde(default)]
        fault: Fault,
    },
    /// Not decided, with the reason (no GPU, manual review, reference has no self-test).
    Skipped { reason: String },
}

impl Verdict {
    pub fn pass(evidence: impl Into<String>) -> Self {
        Verdict::Pass {
            evidence: evidence.into(),
        }
    }

    pub fn fail(evidence: impl Into<String>) -> Self {
        Verdict::Fail {
            evidence: evidence.into(),
        }
    }

    /// An error caused by the submission (exception, timeout, missing function...).
    pub fn error(evidence: impl Into<String>) -> Self {
        Verdict::Error {
            evidence: evidence.into(),
            fault: Fault::Submission,
        }
    }

    /// The submission does not meet the interface, so the criterion could not be checked; the
    /// evidence names what was expected and what was found.
    pub fn contract_error(evidence: impl Into<String>) -> Self {
        Verdict::Error {
            evidence: evidence.into(),
            fault: Fault::Contract,
        }
    }

    /// An error caused by the harness itself; never the submission's fault.
    pub fn harness_error(evidence: impl Into<String>) -> Self {
        Verdict::Error {
            evidence: evidence.into(),
            fault: Fault::Harness,
        }
    }

    pub fn skipped(reason: impl Into<String>) -> Self {
        Verdict::Skipped {
            reason: reason.into(),
        }
    }

    /// Pass when `ok`, else Fail; the evidence is the same either way, so it must state the
    /// measurement and the bound (`max rel err 2.0e-3 > 1e-4`).
    pub fn check(ok: bool, evidence: impl Into<String>) -> Self {
        if ok {
            Verdict::pass(evidence)
        } else {
            Verdict::fail(evidence)
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass { .. } => "PASS",
            Verdict::Fail { .. } => "FAIL",
            Verdict::Error { .. } => "ERROR",
            Verdict::Skipped { .. } => "SKIPPED",
        }
    }

    /// The evidence or the reason, whichever this verdict carries.
    pub fn detail(&self) -> &str {
        match self {
            Verdict::Pass { evidence }
            | Verdict::Fail { evidence }
            | Verdict::Error { evidence, .. } => evidence,
            Verdict::Skipped { reason } => reason,
        }
    }

    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass { .. })
    }

    /// The same verdict with `context: ` before a FAIL's or an ERROR's evidence, saying where it
    /// happened (the case, the step, the function); an ERROR keeps its fault. A PASS or a
    /// SKIPPED is returned as it is.
    pub fn in_context(self, context: impl std::fmt::Display) -> Self {
        match self {
            Verdict::Fail { evidence } => Verdict::Fail {
                evidence: format!("{context}: {evidence}"),
            },
            Verdict::Error { evidence, fault } => Verdict::Error {
                evidence: format!("{context}: {evidence}"),
                fault,
            },
            other => other,
        }
    }

    /// An ERROR because the interface was not followed (see [`Fault::Contract`]).
    pub fn is_contract_fault(&self) -> bool {
        matches!(
            self,
            Verdict::Error {
                fault: Fault::Contract,
                ..
            }
        )
    }

    pub fn is_harness_fault(&self) -> bool {
        matches!(
            self,
            Verdict::Error {
                fault: Fault::Harness,
                ..
            }
        )
    }
}

/// A criterion together with its verdict and how long deciding it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionResult {
    #[serde(flatten)]
    pub criterion: Criterion,
    pub verdict: Verdict,
    pub seconds: f64,
}

/// Collects verdicts for a fixed list of criteria and fails closed: a criterion that was never
/// decided comes out as ERROR with the reason, never as PASS and never missing.
#[derive(Debug)]
pub struct Scorecard {
    slots: Vec<(Criterion, Option<(Verdict, f64)>)>,
}

impl Scorecard {
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

    #[test]
    fn a_contract_error_is_the_submissions_and_says_so_in_json() {
        let verdict = Verdict::contract_error("expected `f(x)`, found `f(x, y)`");
        assert!(verdict.is_contract_fault());
        assert!(!verdict.is_harness_fault());
        assert_eq!(verdict.label(), "ERROR");
        let json = serde_json::to_string(&verdict).unwrap();
        assert!(json.contains(r#""fault":"contract""#), "{json}");
        assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), verdict);
    }

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

    #[test]
    fn verdicts_serialise_with_a_status_tag() {
        let json = serde_json::to_string(&Verdict::fail("3 != 4")).unwrap();
        assert_eq!(json, r#"{"status":"fail","evidence":"3 != 4"}"#);
        let back: Verdict = serde_json::from_str(r#"{"status":"error","evidence":"x"}"#).unwrap();
        assert_eq!(back, Verdict::error("x"));
    }

    #[test]
    fn context_goes_before_fail_and_error_evidence_and_the_fault_is_kept() {
        assert_eq!(
            Verdict::fail("max rel err 3e-2").in_context("N=64 T=16"),
            Verdict::fail("N=64 T=16: max rel err 3e-2")
        );
        assert_eq!(
            Verdict::error("ValueError").in_context("step 3"),
            Verdict::error("step 3: ValueError")
        );
        let harness = Verdict::harness_error("worker died").in_context("step 3");
        assert!(harness.is_harness_fault());
        assert_eq!(harness.detail(), "step 3: worker died");
        assert_eq!(Verdict::pass("ok").in_context("x"), Verdict::pass("ok"));
        assert_eq!(
            Verdict::skipped("no GPU").in_context("x"),
            Verdict::skipped("no GPU")
        );
    }
}
