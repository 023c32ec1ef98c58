//! A column's total, and the ranking of the columns.

use judge_schema::ChallengeId;
use serde::{Deserialize, Serialize};

use super::{Cell, REFERENCE_COLUMN};
use crate::grade::{Grade, letter_grade};

/// A model's (or the reference's) total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Total {
    /// The column: a model folder's name, or [`REFERENCE_COLUMN`].
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
    /// Counted cells whose report holds a harness fault.
    pub harness_faults: u32,
    /// Counted cells graded with another grader version or prompt than the current one.
    pub stale: u32,

    /// Cells whose report is not signed by this judge (counted only with `--accept-unsigned`).
    pub unverified: u32,
}

pub(super) fn total_of(column: &str, cells: &[Cell], strict: bool) -> Total {
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
pub(super) fn rank(totals: &mut [Total]) {
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
