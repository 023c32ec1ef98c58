//! The grade matrix: rows are the challenges in the seed's order, columns the models ranked by
//! their total, each cell one report's score and grade.
//!
//! Built in five steps from what [`gather`](crate::gather::gather) read (model and challenge
//! already taken from where each report sits):
//! 1. **Trust.** A report signed with the judge's key is counted. One that is not (planted,
//!    forged, edited) is listed as a problem and shown as `unverified`, not counted — unless
//!    [`Checks::accept_unsigned`], and then only if its grader version is the registered one
//!    (otherwise its criteria cannot be checked). A report of the registered grader version
//!    whose criteria (ids, kinds, weights) are not that grader's is left out and listed.
//! 2. **Columns.** A submission goes to its model's column; a report of our own reference goes to
//!    the column `reference` (unranked, shown first as a baseline). A submission whose model is
//!    itself called `reference` is left out and listed as a problem.
//! 3. **Duplicates.** Two reports for one (model, challenge) — say one next to the submission
//!    and one under `--out` — keep a counted one over one that is not, then the later
//!    `started_unix` (on a tie, the first by path); the other is listed as a duplicate.
//! 4. **Staleness.** The registered grader of a challenge sets its current grader version and
//!    prompt hash (without one, the newest counted report does); a report graded with another
//!    grader version or another prompt is stale: it stays in the matrix, marked, and is listed
//!    with the reason. A report claiming a newer grader than the judge has makes nothing stale.
//! 5. **Scores.** A cell's score is recomputed from its criteria (weighted auto criteria passed,
//!    skipped ones counting as not passed); a stored `score` that disagrees is listed. With
//!    `--strict` that is the cell's score, and a model's total is the mean over all challenges
//!    of its counted cells, a challenge without one counting 0. Otherwise a cell shows the score
//!    over the criteria that ran, a cell where none ran shows "not run" with the reason, and a
//!    total is the mean over the challenges that ran, saying over how many.

use std::collections::BTreeMap;
use std::path::Path;

use judge_core::report::{Totals, score};
use judge_core::{ChallengeId, CriterionKind, CriterionResult, Difficulty, Report, Verdict};
use serde::{Deserialize, Serialize};

use crate::checks::{Checks, criteria_mismatch};
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
    /// Row order: every challenge in the seed's order.
    pub challenges: Vec<ChallengeRow>,
    /// Only cells that have a report, by row then by column.
    pub cells: Vec<Cell>,
    /// One per column, in column order.
    pub totals: Vec<Total>,
    /// Files left out or flagged, sorted by path.
    pub problems: Vec<Problem>,
    /// Reports not signed by this judge were counted (`--accept-unsigned`).
    pub accept_unsigned: bool,
    /// Leaderboard arithmetic ([`Checks::strict`]).
    pub strict: bool,
    /// What a reader of a paper needs to reproduce the matrix.
    pub provenance: Provenance,
}

/// Which judge made the matrix, when, and from which runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The version of the judge that built this matrix.
    pub judge_version: String,
    /// Seconds since the Unix epoch when it was built.
    pub generated_unix: u64,
    /// Distinct judge versions, seeds and machines of the counted reports, sorted.
    pub report_judge_versions: Vec<String>,
    pub seeds: Vec<u64>,
    pub machines: Vec<String>,
}

impl Provenance {
    fn of(cells: &[Cell], reports: &[&Report]) -> Provenance {
        let mut seeds: Vec<u64> = cells.iter().filter(|c| c.counted).map(|c| c.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        let distinct = |values: Vec<String>| {
            let mut values = values;
            values.sort();
            values.dedup();
            values
        };
        Provenance {
            judge_version: env!("CARGO_PKG_VERSION").to_string(),
            generated_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            report_judge_versions: distinct(
                reports.iter().map(|r| r.judge_version.clone()).collect(),
            ),
            seeds,
            machines: distinct(
                reports
                    .iter()
                    .filter_map(|r| r.environment.get(MACHINE_KEY).cloned())
                    .collect(),
            ),
        }
    }
}

impl Provenance {
    /// `2026-12-03 11:55 UTC`.
    pub fn generated_utc(&self) -> String {
        judge_core::render::utc_minute(self.generated_unix)
    }

    /// One sentence for the top of a page.
    pub fn sentence(&self, reports: usize) -> String {
        let list = |values: &[String]| {
            if values.is_empty() {
                "unknown".to_string()
            } else {
                values.join("; ")
            }
        };
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        format!(
            "Built by judge {} on {} from {reports} counted report(s). Graded by judge {}; \
             seeds {}; machines: {}.",
            self.judge_version,
            self.generated_utc(),
            list(&self.report_judge_versions),
            list(&seeds),
            list(&self.machines),
        )
    }
}

/// The report environment entry that names the machine (written by `judge_core::session`).
const MACHINE_KEY: &str = judge_core::session::MACHINE_ENVIRONMENT_KEY;

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
    pub fail: u32,
    pub error: u32,
    pub skipped: u32,
    /// Manual criteria awaiting a reviewer.
    pub review: u32,
    pub harness_fault: bool,
    /// Graded with another grader version or prompt than the judge's current one.
    pub stale: bool,
    /// Signed with this judge's key.
    pub verified: bool,
    /// In its model's total: verified, or accepted with `--accept-unsigned`. A cell that is not
    /// counted is shown as "unverified".
    pub counted: bool,
    pub seed: u64,
    pub grader_version: String,
    /// The criteria behind a lost point ([`CriterionLine::is_failing`]; a skip only with
    /// `--strict`), in report order.
    pub failing: Vec<CriterionLine>,
    /// Every criterion of the report, in report order.
    pub criteria: Vec<CriterionLine>,
    /// Model reviews of its manual criteria (`judge review`): shown apart, never counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<judge_core::review::Review>,
}

/// A model's (or the reference's) total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Total {
    pub model: String,
    /// 1 = best by the strict total (in either arithmetic); equal ones share a rank. `None`
    /// for the reference column.
    pub rank: Option<u32>,
    /// Mean cell score over the `over` challenges it was computed over.
    pub score: f64,
    /// How many challenges the mean is over: all of them with `--strict` (a challenge without a
    /// report counting 0), else those with a counted report that ran.
    pub over: u32,
    /// Mean strict cell score over all challenges, a challenge without a report counting 0.
    pub strict_score: f64,
    /// [`letter_grade`] of the mean.
    pub grade: Grade,
    /// Challenges with a counted report.
    pub graded: u32,
    pub harness_faults: u32,
    pub stale: u32,
    /// Cells whose report is not signed by this judge (counted only with `--accept-unsigned`).
    pub unverified: u32,
}

impl Matrix {
    /// Gathers every GRADE.json below `root` and builds the matrix.
    pub fn from_root(root: &Path, checks: &Checks) -> Result<Matrix, GatherError> {
        gather(root, checks.key).map(|gathered| Matrix::build(gathered, checks))
    }

    /// Builds the matrix from gathered reports (see the module docs for the rules).
    pub fn build(gathered: Gathered, checks: &Checks) -> Matrix {
        let Gathered {
            reports,
            mut problems,
        } = gathered;
        let trusted = weigh_trust(reports, checks, &mut problems);
        let kept = keep_newest(trusted, &mut problems);
        let stale = find_stale(&kept, checks, &mut problems);

        let mut by_column: BTreeMap<String, Vec<Cell>> = BTreeMap::new();
        for ((column, _), (found, counted)) in &kept {
            let is_stale = stale.contains(&found.path);
            let cell = cell_of(
                column,
                found,
                *counted,
                is_stale,
                checks.strict,
                &mut problems,
            );
            by_column.entry(column.clone()).or_default().push(cell);
        }
        let counted_reports: Vec<&Report> = kept
            .values()
            .filter(|(_, counted)| *counted)
            .map(|(found, _)| &found.report)
            .collect();

        let mut totals: Vec<Total> = by_column
            .iter()
            .map(|(column, cells)| total_of(column, cells, checks.strict))
            .collect();
        rank(&mut totals);
        let models: Vec<String> = totals.iter().map(|t| t.model.clone()).collect();

        let mut cells: Vec<Cell> = by_column.into_values().flatten().collect();
        let column_index = |model: &str| models.iter().position(|m| m == model);
        cells.sort_by_key(|c| (c.challenge.seed_index(), column_index(&c.model)));
        let provenance = Provenance::of(&cells, &counted_reports);

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
            accept_unsigned: checks.accept_unsigned,
            strict: checks.strict,
            provenance,
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

/// A report and whether it counts.
type Weighed = (FoundReport, bool);

/// Step 1: whether each report counts; reports whose criteria are not their grader's are left
/// out.
fn weigh_trust(
    reports: Vec<FoundReport>,
    checks: &Checks,
    problems: &mut Vec<Problem>,
) -> Vec<Weighed> {
    let mut weighed = Vec::new();
    for found in reports {
        let grader = checks.grader(found.report.challenge);
        if let Some(reason) = grader.and_then(|g| criteria_mismatch(&found.report, g)) {
            problems.push(Problem {
                path: found.path,
                kind: ProblemKind::CriteriaMismatch,
                reason: format!("{reason}; left out"),
            });
            continue;
        }
        let counted = match found.verified {
            Ok(()) => true,
            Err(unverified) => {
                let checkable =
                    grader.is_none_or(|g| g.version == found.report.fingerprint.grader_version);
                let counted = checks.accept_unsigned && checkable;
                let consequence = if counted {
                    "counted because of --accept-unsigned"
                } else if checks.accept_unsigned {
                    "not counted even with --accept-unsigned: its grader version is not this judge's, so its criteria cannot be checked"
                } else {
                    "shown as unverified, not counted"
                };
                problems.push(Problem {
                    path: found.path.clone(),
                    kind: ProblemKind::Unverified,
                    reason: format!("{unverified}; {consequence}"),
                });
                counted
            }
        };
        weighed.push((found, counted));
    }
    weighed
}

/// Step 2 and 3: one report per (column, challenge): a counted one over one that is not, a
/// verified one over one accepted unsigned, then the newest.
fn keep_newest(reports: Vec<Weighed>, problems: &mut Vec<Problem>) -> BTreeMap<CellKey, Weighed> {
    let mut kept: BTreeMap<CellKey, Weighed> = BTreeMap::new();
    let rank =
        |(found, counted): &Weighed| (*counted, found.verified.is_ok(), found.report.started_unix);
    // `reports` is sorted by path, so on equal standing the first by path stays.
    for weighed in reports {
        let column = match column_of(&weighed.0.report) {
            Ok(column) => column,
            Err(reason) => {
                problems.push(Problem {
                    path: weighed.0.path,
                    kind: ProblemKind::ReservedName,
                    reason,
                });
                continue;
            }
        };
        let key = (column, weighed.0.report.challenge);
        let (winner, loser) = match kept.remove(&key) {
            None => (weighed, None),
            Some(old) if rank(&weighed) > rank(&old) => (weighed, Some(old)),
            Some(old) => (old, Some(weighed)),
        };
        if let Some((loser, loser_counted)) = loser {
            let (won, won_counted) = &winner;
            let why = if *won_counted != loser_counted {
                "the counted one is used"
            } else if won.verified.is_ok() != loser.verified.is_ok() {
                "the signed one is used"
            } else {
                "the newer one is used"
            };
            problems.push(Problem {
                reason: format!(
                    "{}/{} is also graded in {} (started {} vs {}); {why}",
                    key.0, key.1, won.path, won.report.started_unix, loser.report.started_unix,
                ),
                path: loser.path,
                kind: ProblemKind::Duplicate,
            });
        }
        kept.insert(key, winner);
    }
    kept
}

/// Step 4: the paths of stale counted reports, each listed as a problem.
fn find_stale(
    kept: &BTreeMap<CellKey, Weighed>,
    checks: &Checks,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let mut stale = Vec::new();
    for challenge in ChallengeId::ALL {
        // A report that is not counted is listed as unverified already; its claims are noise.
        let of_challenge: Vec<&FoundReport> = kept
            .iter()
            .filter(|((_, c), (_, counted))| *c == challenge && *counted)
            .map(|(_, (found, _))| found)
            .collect();
        let Some((source, version, prompt)) = current_grader(challenge, kept, checks) else {
            continue;
        };
        for found in &of_challenge {
            let fingerprint = &found.report.fingerprint;
            let mut reasons = Vec::new();
            if fingerprint.grader_version != version {
                reasons.push(format!(
                    "grader version {} but {source} uses {version}",
                    fingerprint.grader_version
                ));
            }
            if fingerprint.prompt_sha256 != prompt {
                reasons.push(format!(
                    "prompt sha256 {} but {source} has {}",
                    short(&fingerprint.prompt_sha256),
                    short(&prompt)
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

/// Who sets a challenge's current grader version and prompt hash, and their values: the
/// registered grader, or else the newest counted report (ties on start time fall to the larger
/// version string, so the choice never depends on where the files were found).
fn current_grader(
    challenge: ChallengeId,
    kept: &BTreeMap<CellKey, Weighed>,
    checks: &Checks,
) -> Option<(String, String, String)> {
    if let Some(grader) = checks.grader(challenge) {
        return Some((
            "this judge's grader".to_string(),
            grader.version.clone(),
            grader.prompt_sha256.clone(),
        ));
    }
    let key = |f: &FoundReport| {
        let fp = &f.report.fingerprint;
        (
            f.report.started_unix,
            fp.grader_version.clone(),
            fp.prompt_sha256.clone(),
        )
    };
    let newest = kept
        .iter()
        .filter(|((_, c), (_, counted))| *c == challenge && *counted)
        .map(|(_, (found, _))| found)
        .max_by(|a, b| key(a).cmp(&key(b)))?;
    let fingerprint = &newest.report.fingerprint;
    Some((
        format!("the newest {challenge} report ({})", newest.path),
        fingerprint.grader_version.clone(),
        fingerprint.prompt_sha256.clone(),
    ))
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Step 5 for one report.
fn cell_of(
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

fn total_of(column: &str, cells: &[Cell], strict: bool) -> Total {
    // Summed in seed order so equal inputs give bit-identical totals wherever they were found.
    let counted: Vec<&Cell> = ChallengeId::ALL
        .iter()
        .filter_map(|&id| cells.iter().find(|c| c.challenge == id && c.counted))
        .collect();
    let strict_score =
        counted.iter().map(|c| c.strict_score).sum::<f64>() / ChallengeId::COUNT as f64;
    let ran: Vec<&&Cell> = counted.iter().filter(|c| c.not_run.is_none()).collect();
    let (mean, over) = if strict {
        (strict_score, ChallengeId::COUNT)
    } else {
        let sum: f64 = ran.iter().map(|c| c.score).sum();
        (sum / ran.len().max(1) as f64, ran.len())
    };
    let count = |f: fn(&Cell) -> bool| cells.iter().filter(|c| f(c)).count() as u32;
    Total {
        model: column.to_string(),
        rank: None,
        score: mean,
        over: over as u32,
        strict_score,
        grade: letter_grade(mean),
        graded: count(|c| c.counted),
        harness_faults: count(|c| c.counted && c.harness_fault),
        stale: count(|c| c.counted && c.stale),
        unverified: count(|c| !c.verified),
    }
}

/// Orders the columns (reference first, then best total first, ties by name) and gives the
/// models competition ranks: 1, 2, 2, 4.
fn rank(totals: &mut [Total]) {
    // Ranked by the strict total in either arithmetic: a model that answered fewer challenges,
    // or whose cells ran less, is not lifted by what it was not tested on.
    totals.sort_by(|a, b| {
        let reference_first = (b.model == REFERENCE_COLUMN).cmp(&(a.model == REFERENCE_COLUMN));
        reference_first
            .then(b.strict_score.total_cmp(&a.strict_score))
            .then(b.score.total_cmp(&a.score))
            .then(a.model.cmp(&b.model))
    });
    let scores: Vec<(bool, f64)> = totals
        .iter()
        .map(|t| (t.model == REFERENCE_COLUMN, t.strict_score))
        .collect();
    for total in totals.iter_mut() {
        if total.model != REFERENCE_COLUMN {
            let better = scores
                .iter()
                .filter(|(is_reference, score)| !is_reference && *score > total.strict_score)
                .count();
            total.rank = Some(better as u32 + 1);
        }
    }
}
