//! Steps 1 to 4: which reports count, which column each goes to, which one of two for the same
//! cell is kept, and which are stale.

use std::collections::BTreeMap;

use judge_schema::{ChallengeId, Report};

use super::{REFERENCE_COLUMN, UNNAMED_MODEL};
use crate::checks::{Checks, criteria_mismatch};
use crate::gather::{FoundReport, Problem, ProblemKind};

/// The column a report belongs to, or why it has none.
fn column_of(report: &Report) -> Result<String, String> {
    match report.candidate {
        judge_schema::CandidateKind::Reference => Ok(REFERENCE_COLUMN.to_string()),
        judge_schema::CandidateKind::Submission => match report.model.as_deref() {
            Some(REFERENCE_COLUMN) => Err(format!(
                "model name '{REFERENCE_COLUMN}' is reserved for the reference column; rename the model folder"
            )),
            Some(model) => Ok(model.to_string()),
            None => Ok(UNNAMED_MODEL.to_string()),
        },
    }
}

pub(super) type CellKey = (String, ChallengeId);

/// A report and whether it counts.
pub(super) type Weighed = (FoundReport, bool);

/// Step 1: whether each report counts; reports whose criteria are not their grader's are left
/// out.
pub(super) fn weigh_trust(
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
pub(super) fn keep_newest(
    reports: Vec<Weighed>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<CellKey, Weighed> {
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
pub(super) fn find_stale(
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
