//! The grade matrix: rows are the challenges in the seed's order, columns the models ranked by
//! their total, each cell one report's score and grade.
//!
//! Built in five steps from what [`crate::gather::gather`] read (model and challenge
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

mod cell;
mod provenance;
mod selection;
mod total;

use std::collections::BTreeMap;
use std::path::Path;

use judge_schema::{ChallengeId, Difficulty, Report};
use serde::{Deserialize, Serialize};

use crate::checks::Checks;
use crate::gather::{GatherError, Gathered, Problem, gather};
use crate::grade::{GRADE_SCALE, Grade};
use cell::cell_of;
pub use cell::{Cell, CriterionLine, Status};
pub use provenance::Provenance;
use selection::{find_stale, keep_newest, weigh_trust};
pub use total::Total;
use total::{rank, total_of};

/// Version of the JSON this crate writes; bumped when a field changes meaning or disappears.
pub const MATRIX_SCHEMA: u32 = 1;

/// The column that holds reports of our Rust references (`candidate: reference`).
pub const REFERENCE_COLUMN: &str = "reference";

/// The column of submissions whose report names no model.
pub const UNNAMED_MODEL: &str = "unnamed";

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

/// One step of [`GRADE_SCALE`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GradeStep {
    /// The grade.
    pub grade: Grade,
    /// The lowest score that earns it.
    pub min_score: f64,
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengeRow {
    /// The challenge.
    pub id: ChallengeId,
    /// Its difficulty, as the seed rates it.
    pub difficulty: Difficulty,
    /// Its one-line summary, in the seed's words.
    pub summary: String,
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
