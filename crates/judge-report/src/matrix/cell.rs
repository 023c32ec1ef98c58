//! Step 5: one report's cell, its score recomputed from its criteria.

use judge_schema::report::{Totals, score};
use judge_schema::{ChallengeId, CriterionKind, CriterionResult, Verdict};
use serde::{Deserialize, Serialize};

use crate::gather::{FoundReport, Problem, ProblemKind};
use crate::grade::{Grade, letter_grade};

/// Stored and recomputed scores closer than this agree.
const SCORE_AGREEMENT: f64 = 1e-9;

/// What a reader sees for one criterion: manual criteria awaiting a reviewer are `REVIEW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The criterion passed.
    Pass,
    /// The criterion failed.
    Fail,
    /// The criterion could not be decided (the submission's fault or the judge's).
    Error,
    /// An auto or self-test criterion that did not run.
    Skipped,
    /// A manual criterion: needs a human; never counted as passed.
    Review,
}

impl Status {
    pub(super) fn of(result: &CriterionResult) -> Status {
        match (&result.criterion.kind, &result.verdict) {
            (CriterionKind::Manual, Verdict::Skipped { .. }) => Status::Review,
            (_, Verdict::Pass { .. }) => Status::Pass,
            (_, Verdict::Fail { .. }) => Status::Fail,
            (_, Verdict::Error { .. }) => Status::Error,
            (_, Verdict::Skipped { .. }) => Status::Skipped,
        }
    }

    /// The status as shown and as the JSON spells it (`PASS`, `REVIEW`).
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Skipped => "SKIPPED",
            Status::Review => "REVIEW",
        }
    }
}

/// One criterion of a cell's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionLine {
    /// The criterion's id.
    pub id: String,
    /// Its one-line title.
    pub title: String,
    /// Auto, self-test or manual.
    pub kind: CriterionKind,
    /// Its verdict as a reader sees it.
    pub status: Status,
    /// The evidence of a verdict, or the reason it was skipped. Untrusted text.
    pub evidence: String,
    /// An ERROR that is the judge's fault, not the submission's.
    pub harness_fault: bool,
    /// An ERROR because the interface was not followed (shown "C!"), not a wrong answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contract_fault: bool,
}

impl CriterionLine {
    fn of(result: &CriterionResult) -> Self {
        CriterionLine {
            id: result.criterion.id.clone(),
            title: result.criterion.title.clone(),
            kind: result.criterion.kind,
            status: Status::of(result),
            evidence: result.verdict.detail().to_string(),
            harness_fault: result.verdict.is_harness_fault(),
            contract_fault: result.verdict.is_contract_fault(),
        }
    }

    /// Whether the line explains a lost point or a broken self-test: any FAIL or ERROR, and an
    /// auto criterion that was skipped (it counts as not passed). A skipped self-test is not.
    pub fn is_failing(&self) -> bool {
        match self.status {
            Status::Fail | Status::Error => true,
            Status::Skipped => self.kind == CriterionKind::Auto,
            Status::Pass | Status::Review => false,
        }
    }
}

/// One (model, challenge) report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The column: the model folder's name, or [`REFERENCE_COLUMN`](crate::REFERENCE_COLUMN).
    pub model: String,
    /// The row.
    pub challenge: ChallengeId,
    /// The score shown: with `--strict` the weighted fraction of all auto criteria passed
    /// (`strict_score`); otherwise the weighted fraction of those that ran. In [0, 1].
    pub score: f64,
    /// Weighted fraction of all auto criteria passed, skipped ones counting as not passed: the
    /// report's own score.
    pub strict_score: f64,
    /// Every auto criterion was skipped for the environment (no GPU, no corpus): the reasons.
    /// Such a cell shows "not run" and no letter, and is left out of a total that is not strict.
    pub not_run: Option<String>,
    /// [`letter_grade`] of the score, or `ERR` when the report holds a harness fault.
    pub grade: Grade,
    /// Auto criteria by verdict (the criteria the score is made of).
    pub pass: u32,
    /// Auto criteria that failed.
    pub fail: u32,
    /// Auto criteria that are ERROR.
    pub error: u32,
    /// Auto criteria that were skipped.
    pub skipped: u32,
    /// Manual criteria awaiting a reviewer.
    pub review: u32,
    /// Some verdict of the report is a harness fault: the grade is `ERR`.
    pub harness_fault: bool,
    /// Auto criteria that are ERROR because the interface was not followed ("C!").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub contract_faults: u32,
    /// The adapter the grade went through ("via adapter"): not an answer that followed the
    /// interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<judge_schema::report::AdapterInfo>,
    /// Graded with another grader version or prompt than the judge's current one.
    pub stale: bool,
    /// Signed with this judge's key.
    pub verified: bool,
    /// In its model's total: verified, or accepted with `--accept-unsigned`. A cell that is not
    /// counted is shown as "unverified".
    pub counted: bool,
    /// The seed the report was graded with (`--seed` reproduces it).
    pub seed: u64,
    /// The grader version the report records (`kv/1`).
    pub grader_version: String,

    /// The criteria behind a lost point ([`CriterionLine::is_failing`]; a skip only with
    /// `--strict`), in report order.
    pub failing: Vec<CriterionLine>,
    /// Every criterion of the report, in report order.
    pub criteria: Vec<CriterionLine>,
    /// Model reviews of its manual criteria (`judge review`): shown apart, never counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<judge_schema::review::Review>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Step 5 for one report.
pub(super) fn cell_of(
    column: &str,
    found: &FoundReport,
    counted: bool,
    stale: bool,
    strict: bool,
    problems: &mut Vec<Problem>,
) -> Cell {
    let report = &found.report;
    let recomputed = score(&report.criteria);
    let (ran, not_run) = score_over_what_ran(&report.criteria);
    let shown = if strict { recomputed } else { ran };
    let disagrees =
        (recomputed - report.score).abs() > SCORE_AGREEMENT || !report.score.is_finite();
    // A report that is not counted is already listed as unverified; its numbers mean nothing.
    if counted && disagrees {
        problems.push(Problem {
            path: found.path.clone(),
            kind: ProblemKind::ScoreMismatch,
            reason: format!(
                "stored score {} but its criteria give {recomputed:.4}; the criteria are used",
                report.score
            ),
        });
    }
    let counts = Totals::of(&report.criteria);
    let criteria: Vec<CriterionLine> = report.criteria.iter().map(CriterionLine::of).collect();
    let harness_fault = report.has_harness_fault();
    Cell {
        model: column.to_string(),
        challenge: report.challenge,
        score: shown,
        strict_score: recomputed,
        not_run: not_run.filter(|_| !strict),
        grade: if harness_fault {
            Grade::Err
        } else {
            letter_grade(shown)
        },
        pass: counts.auto.pass,
        fail: counts.auto.fail,
        error: counts.auto.error,
        skipped: counts.auto.skipped,
        review: criteria
            .iter()
            .filter(|c| c.status == Status::Review)
            .count() as u32,
        harness_fault,
        contract_faults: criteria
            .iter()
            .filter(|c| c.kind == CriterionKind::Auto && c.contract_fault)
            .count() as u32,
        adapter: report.submission.as_ref().and_then(|s| s.adapter.clone()),
        stale,
        verified: found.verified.is_ok(),
        counted,
        seed: report.fingerprint.seed,
        grader_version: report.fingerprint.grader_version.clone(),
        // Scored over what ran, a skip lost no point: it is shown in the cell, not here.
        failing: criteria
            .iter()
            .filter(|c| c.is_failing() && (strict || c.status != Status::Skipped))
            .cloned()
            .collect(),
        criteria,
        reviews: report.reviews.clone(),
    }
}

/// The weighted fraction of the auto criteria that ran (were not skipped) that passed, and,
/// when none ran, why (the distinct skip reasons).
fn score_over_what_ran(results: &[CriterionResult]) -> (f64, Option<String>) {
    let auto: Vec<_> = results
        .iter()
        .filter(|r| r.criterion.kind == CriterionKind::Auto)
        .collect();
    let ran: Vec<CriterionResult> = auto
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Skipped { .. }))
        .map(|r| (*r).clone())
        .collect();
    if ran.is_empty() && !auto.is_empty() {
        let mut reasons: Vec<&str> = auto.iter().map(|r| r.verdict.detail()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        return (0.0, Some(reasons.join("; ")));
    }
    (score(&ran), None)
}
