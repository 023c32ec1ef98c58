//! Criteria and verdicts as GRADE.json records them.
//!
//! A grader declares its criteria once; the same list is used for the Rust reference and for a
//! submission, so `judge reference` and `judge grade` run identical checks. The scorecard that
//! turns checks into results is judge-core's.

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
    /// The name GRADE.json and the tables use for the kind.
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
    /// Who decides it, and so whether it scores.
    pub kind: CriterionKind,
    /// Relative weight within the challenge's auto criteria.
    pub weight: u32,
}

impl Criterion {
    /// A harness-decided criterion of weight 1.
    pub fn auto(id: &str, title: &str) -> Self {
        Self::new(id, title, CriterionKind::Auto, 1)
    }

    /// The submission's own tests; shown apart, never scored.
    pub fn self_test(id: &str, title: &str) -> Self {
        Self::new(id, title, CriterionKind::SelfTest, 1)
    }

    /// A prose item for review; weight 0, since it never scores.
    pub fn manual(id: &str, title: &str) -> Self {
        Self::new(id, title, CriterionKind::Manual, 0)
    }

    /// A criterion of any kind and weight (the shorthands above cover the usual ones).
    pub fn new(id: &str, title: &str, kind: CriterionKind, weight: u32) -> Self {
        Self {
            id: id.to_string(),
            title: title.to_string(),
            kind,
            weight,
        }
    }

    /// The same criterion weighing `weight` among its challenge's auto criteria.
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
    /// The submission broke (exception, timeout, missing function): the model's ERROR.
    Submission,
    /// Our bug or a broken environment: reported apart, exit code 2.
    Harness,
    /// The submission does not meet the interface, so its answer could not be checked.
    Contract,
}

/// The outcome of one criterion, always with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Ran and met the requirement; the evidence says by how much (e.g. `max rel err 3.1e-12`).
    Pass {
        /// How well: the measured figure against its bound.
        evidence: String,
    },
    /// Ran and missed it; the evidence says how (first differing token, peak bytes vs limit...).
    Fail {
        /// How it missed: the first difference, or the figure against its bound.
        evidence: String,
    },
    /// Could not be run or decided: exception, timeout, memory limit, missing function.
    Error {
        /// What went wrong: the exception, the limit hit, the missing name.
        evidence: String,
        /// Whose fault it is (absent in older reports: the submission's).
        #[serde(default)]
        fault: Fault,
    },
    /// Not decided, with the reason (no GPU, manual review, reference has no self-test).
    Skipped {
        /// Why it was not decided.
        reason: String,
    },
}

impl Verdict {
    /// A PASS with the evidence of how well it met the requirement.
    pub fn pass(evidence: impl Into<String>) -> Self {
        Verdict::Pass {
            evidence: evidence.into(),
        }
    }

    /// A FAIL with the evidence of how it missed.
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

    /// A SKIPPED with the reason it was not decided.
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

    /// `PASS`, `FAIL`, `ERROR` or `SKIPPED`, as tables and exit summaries print it.
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

    /// Whether it is a PASS (the only verdict that adds to a score).
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

    /// Whether it is an ERROR that is the harness's fault, not the submission's.
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
    /// The criterion decided (its fields sit beside the verdict's in GRADE.json).
    pub criterion: Criterion,
    /// What was decided, with its evidence.
    pub verdict: Verdict,
    /// Wall-clock seconds the check took.
    pub seconds: f64,
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
