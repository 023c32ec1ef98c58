//! The grade matrix: rows are the challenges in the seed's order, columns the models ranked by
//! their total, each cell one report's score and grade.
//!
//! Built in four steps from what [`gather`](crate::gather::gather) read:
//! 1. **Columns.** A submission goes to its model's column; a report of our own reference goes to
//!    the column `reference` (unranked, shown first as a baseline). A submission whose model is
//!    itself called `reference` is left out and listed as a problem.
//! 2. **Duplicates.** Two reports for one (model, challenge) — say one next to the submission
//!    and one under `--out` — keep the one with the later `started_unix` (on a tie, the first by
//!    path); the other is listed as a duplicate.
//! 3. **Staleness.** Per challenge, the newest report (by `started_unix`) sets the current
//!    grader version and prompt hash; a report graded with another grader version or another
//!    prompt is stale: it stays in the matrix, marked, and is listed with the reason.
//! 4. **Scores.** A cell's score is recomputed from its criteria (weighted auto criteria passed,
//!    skipped ones counting as not passed); a stored `score` that disagrees is listed. A model's
//!    total is the mean over all eight challenges, a challenge without a report counting 0.

use std::collections::BTreeMap;
use std::path::Path;

use judge_core::report::{Totals, score};
use judge_core::{ChallengeId, CriterionKind, CriterionResult, Difficulty, Report, Verdict};
use serde::{Deserialize, Serialize};

use crate::gather::{FoundReport, GatherError, Gathered, Problem, ProblemKind, gather};
use crate::grade::{GRADE_SCALE, Grade, letter_grade};

/// Version of the JSON this crate writes; bumped when a field changes meaning or disappears.
pub const MATRIX_SCHEMA: u32 = 1;

/// The column that holds reports of our Rust references (`candidate: reference`).
pub const REFERENCE_COLUMN: &str = "reference";

/// The column of submissions whose report names no model.
pub const UNNAMED_MODEL: &str = "unnamed";

/// Stored and recomputed scores closer than this agree.
const SCORE_AGREEMENT: f64 = 1e-9;

/// The whole matrix; serialised as is by `judge report --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// [`MATRIX_SCHEMA`].
    pub schema: u32,
    /// The letter-grade scale the grades were computed with, best first.
    pub grade_scale: Vec<GradeStep>,
    /// Column order: `reference` first when present, then the models ranked best first.
    pub models: Vec<String>,
    /// Row order: all eight challenges in the seed's order.
    pub challenges: Vec<ChallengeRow>,
    /// Only cells that have a report, by row then by column.
    pub cells: Vec<Cell>,
    /// One per column, in column order.
    pub totals: Vec<Total>,
    /// Files left out or flagged, sorted by path.
    pub problems: Vec<Problem>,
}

/// One step of [`GRADE_SCALE`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GradeStep {
    pub grade: Grade,
    pub min_score: f64,
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengeRow {
    pub id: ChallengeId,
    pub difficulty: Difficulty,
    pub summary: String,
}

/// What a reader sees for one criterion: manual criteria awaiting a reviewer are `REVIEW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    Error,
    Skipped,
    /// A manual criterion: needs a human; never counted as passed.
    Review,
}

impl Status {
    fn of(result: &CriterionResult) -> Status {
        match (&result.criterion.kind, &result.verdict) {
            (CriterionKind::Manual, Verdict::Skipped { .. }) => Status::Review,
            (_, Verdict::Pass { .. }) => Status::Pass,
            (_, Verdict::Fail { .. }) => Status::Fail,
            (_, Verdict::Error { .. }) => Status::Error,
            (_, Verdict::Skipped { .. }) => Status::Skipped,
        }
    }

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
    pub id: String,
    pub title: String,
    pub kind: CriterionKind,
    pub status: Status,
    /// The evidence of a verdict, or the reason it was skipped. Untrusted text.
    pub evidence: String,
    /// An ERROR that is the judge's fault, not the submission's.
    pub harness_fault: bool,
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
    pub model: String,
    pub challenge: ChallengeId,
    /// Weighted fraction of auto criteria passed, in [0, 1].
    pub score: f64,
    /// [`letter_grade`] of the score, or `ERR` when the report holds a harness fault.
    pub grade: Grade,
    /// Auto criteria by verdict (the criteria the score is made of).
    pub pass: u32,
    pub fail: u32,
    pub error: u32,
    pub skipped: u32,
    /// Manual criteria awaiting a reviewer.
    pub review: u32,
    pub harness_fault: bool,
    /// Graded with an older grader or prompt than the newest report of this challenge.
    pub stale: bool,
    pub seed: u64,
    pub grader_version: String,
    /// The criteria behind a lost point ([`CriterionLine::is_failing`]), in report order.
    pub failing: Vec<CriterionLine>,
    /// Every criterion of the report, in report order.
    pub criteria: Vec<CriterionLine>,
}

/// A model's (or the reference's) total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Total {
    pub model: String,
    /// 1 = best; equal totals share a rank. `None` for the reference column.
    pub rank: Option<u32>,
    /// Mean cell score over all eight challenges; a challenge without a report counts 0.
    pub score: f64,
    /// [`letter_grade`] of the mean.
    pub grade: Grade,
    /// Challenges with a report.
    pub graded: u32,
    pub harness_faults: u32,
    pub stale: u32,
}

impl Matrix {
    /// Gathers every GRADE.json below `root` and builds the matrix.
    pub fn from_root(root: &Path) -> Result<Matrix, GatherError> {
        gather(root).map(Matrix::build)
    }

    /// Builds the matrix from gathered reports (see the module docs for the rules).
    pub fn build(gathered: Gathered) -> Matrix {
        let Gathered {
            reports,
            mut problems,
        } = gathered;
        let kept = keep_newest(reports, &mut problems);
        let stale = find_stale(&kept, &mut problems);

        let mut by_column: BTreeMap<String, Vec<Cell>> = BTreeMap::new();
        for ((column, _), found) in &kept {
            let is_stale = stale.contains(&found.path);
            let cell = cell_of(column, found, is_stale, &mut problems);
            by_column.entry(column.clone()).or_default().push(cell);
        }

        let mut totals: Vec<Total> = by_column
            .iter()
            .map(|(column, cells)| total_of(column, cells))
            .collect();
        rank(&mut totals);
        let models: Vec<String> = totals.iter().map(|t| t.model.clone()).collect();

        let mut cells: Vec<Cell> = by_column.into_values().flatten().collect();
        let column_index = |model: &str| models.iter().position(|m| m == model);
        cells.sort_by_key(|c| (c.challenge.seed_index(), column_index(&c.model)));

        problems.sort();
        Matrix {
            schema: MATRIX_SCHEMA,
            grade_scale: GRADE_SCALE
                .iter()
                .map(|&(grade, min_score)| GradeStep { grade, min_score })
                .collect(),
            models,
            challenges: ChallengeId::ALL
                .iter()
                .map(|&id| ChallengeRow {
                    id,
                    difficulty: id.difficulty(),
                    summary: id.summary().to_string(),
                })
                .collect(),
            cells,
            totals,
            problems,
        }
    }

    /// The cell of `model` for `challenge`, when that model has a report for it.
    pub fn cell(&self, model: &str, challenge: ChallengeId) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.model == model && c.challenge == challenge)
    }

    /// The total of one column.
    pub fn total(&self, model: &str) -> Option<&Total> {
        self.totals.iter().find(|t| t.model == model)
    }

    /// The JSON of `judge report --format json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a Matrix always serialises")
    }
}

/// The column a report belongs to, or why it has none.
fn column_of(report: &Report) -> Result<String, String> {
    match report.candidate {
        judge_core::CandidateKind::Reference => Ok(REFERENCE_COLUMN.to_string()),
        judge_core::CandidateKind::Submission => match report.model.as_deref() {
            Some(REFERENCE_COLUMN) => Err(format!(
                "model name '{REFERENCE_COLUMN}' is reserved for the reference column; rename the model folder"
            )),
            Some(model) => Ok(model.to_string()),
            None => Ok(UNNAMED_MODEL.to_string()),
        },
    }
}

type CellKey = (String, ChallengeId);

/// Step 1 and 2: one report per (column, challenge), the newest.
fn keep_newest(
    reports: Vec<FoundReport>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<CellKey, FoundReport> {
    let mut kept: BTreeMap<CellKey, FoundReport> = BTreeMap::new();
    // `reports` is sorted by path, so on equal start times the first by path stays.
    for found in reports {
        let column = match column_of(&found.report) {
            Ok(column) => column,
            Err(reason) => {
                problems.push(Problem {
                    path: found.path,
                    kind: ProblemKind::ReservedName,
                    reason,
                });
                continue;
            }
        };
        let key = (column, found.report.challenge);
        let (winner, loser) = match kept.remove(&key) {
            None => (found, None),
            Some(old) if found.report.started_unix > old.report.started_unix => (found, Some(old)),
            Some(old) => (old, Some(found)),
        };
        if let Some(loser) = loser {
            problems.push(Problem {
                reason: format!(
                    "{}/{} is also graded in {} (started {} vs {}); the newer one is used",
                    key.0,
                    key.1,
                    winner.path,
                    winner.report.started_unix,
                    loser.report.started_unix
                ),
                path: loser.path,
                kind: ProblemKind::Duplicate,
            });
        }
        kept.insert(key, winner);
    }
    kept
}

/// Step 3: the paths of stale reports, each listed as a problem.
fn find_stale(kept: &BTreeMap<CellKey, FoundReport>, problems: &mut Vec<Problem>) -> Vec<String> {
    let mut stale = Vec::new();
    for challenge in ChallengeId::ALL {
        let of_challenge: Vec<&FoundReport> = kept
            .iter()
            .filter(|((_, c), _)| *c == challenge)
            .map(|(_, found)| found)
            .collect();
        // Ties on start time fall to the larger version string, so the choice never depends
        // on where the files were found.
        let Some(newest) = of_challenge.iter().max_by(|a, b| {
            let key = |f: &FoundReport| {
                let fp = &f.report.fingerprint;
                (
                    f.report.started_unix,
                    fp.grader_version.clone(),
                    fp.prompt_sha256.clone(),
                )
            };
            key(a).cmp(&key(b))
        }) else {
            continue;
        };
        let current = &newest.report.fingerprint;
        for found in &of_challenge {
            let fingerprint = &found.report.fingerprint;
            let mut reasons = Vec::new();
            if fingerprint.grader_version != current.grader_version {
                reasons.push(format!(
                    "grader version {} but the newest {challenge} report ({}) uses {}",
                    fingerprint.grader_version, newest.path, current.grader_version
                ));
            }
            if fingerprint.prompt_sha256 != current.prompt_sha256 {
                reasons.push(format!(
                    "prompt sha256 {} but the newest {challenge} report ({}) has {}",
                    short(&fingerprint.prompt_sha256),
                    newest.path,
                    short(&current.prompt_sha256)
                ));
            }
            if !reasons.is_empty() {
                problems.push(Problem {
                    path: found.path.clone(),
                    kind: ProblemKind::Stale,
                    reason: format!("{}; re-grade it", reasons.join("; ")),
                });
                stale.push(found.path.clone());
            }
        }
    }
    stale
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Step 4 for one report.
fn cell_of(column: &str, found: &FoundReport, stale: bool, problems: &mut Vec<Problem>) -> Cell {
    let report = &found.report;
    let recomputed = score(&report.criteria);
    if (recomputed - report.score).abs() > SCORE_AGREEMENT || !report.score.is_finite() {
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
        score: recomputed,
        grade: if harness_fault {
            Grade::Err
        } else {
            letter_grade(recomputed)
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
        stale,
        seed: report.fingerprint.seed,
        grader_version: report.fingerprint.grader_version.clone(),
        failing: criteria
            .iter()
            .filter(|c| c.is_failing())
            .cloned()
            .collect(),
        criteria,
    }
}

fn total_of(column: &str, cells: &[Cell]) -> Total {
    // Summed in seed order so equal inputs give bit-identical totals wherever they were found.
    let sum: f64 = ChallengeId::ALL
        .iter()
        .filter_map(|&id| cells.iter().find(|c| c.challenge == id))
        .map(|c| c.score)
        .sum();
    let mean = sum / ChallengeId::ALL.len() as f64;
    let count = |f: fn(&Cell) -> bool| cells.iter().filter(|c| f(c)).count() as u32;
    Total {
        model: column.to_string(),
        rank: None,
        score: mean,
        grade: letter_grade(mean),
        graded: cells.len() as u32,
        harness_faults: count(|c| c.harness_fault),
        stale: count(|c| c.stale),
    }
}

/// Orders the columns (reference first, then best total first, ties by name) and gives the
/// models competition ranks: 1, 2, 2, 4.
fn rank(totals: &mut [Total]) {
    totals.sort_by(|a, b| {
        let reference_first = (b.model == REFERENCE_COLUMN).cmp(&(a.model == REFERENCE_COLUMN));
        reference_first
            .then(b.score.total_cmp(&a.score))
            .then(a.model.cmp(&b.model))
    });
    let scores: Vec<(bool, f64)> = totals
        .iter()
        .map(|t| (t.model == REFERENCE_COLUMN, t.score))
        .collect();
    for total in totals.iter_mut() {
        if total.model != REFERENCE_COLUMN {
            let better = scores
                .iter()
                .filter(|(is_reference, score)| !is_reference && *score > total.score)
                .count();
            total.rank = Some(better as u32 + 1);
        }
    }
}
