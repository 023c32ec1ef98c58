//! What `judge report` believes: reports signed with the judge's key, graded by the graders the
//! judge has. A report's own claims about its criteria (kinds, weights) and about the current
//! grader version are never taken at their word.

use judge_schema::{ChallengeId, Criterion, Report, ReportSource};

/// One grader the judge has, as `judge report` checks reports against it. Built by the binary
/// from its registry (this crate does not depend on the graders).
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredGrader {
    /// The challenge it grades.
    pub challenge: ChallengeId,
    /// As reports record it: `kv/1`.
    pub version: String,
    /// The SHA-256 of the prompt submissions answer today.
    pub prompt_sha256: String,
    /// Its criteria, in the order its reports list them.
    pub criteria: Vec<Criterion>,
}

/// The key, the registered graders, and whether unsigned reports count.
#[derive(Debug, Clone, Copy)]
pub struct Checks<'a> {
    /// Reads the reports and checks their signatures (the judge's key).
    pub key: &'a dyn ReportSource,

    /// A challenge without an entry here is judged by its newest verified report's version.
    pub graders: &'a [RegisteredGrader],
    /// Count reports that are not signed by this judge (the page then says so).
    pub accept_unsigned: bool,
    /// Leaderboard arithmetic (`--strict`): skipped auto criteria count as failed and a
    /// challenge without a report counts 0 in a total of all challenges. Otherwise a cell is
    /// scored over the criteria that ran and a total over the challenges that ran, each saying
    /// how much that was.
    pub strict: bool,
}

impl Checks<'_> {
    /// The registered grader of `challenge`.
    pub fn grader(&self, challenge: ChallengeId) -> Option<&RegisteredGrader> {
        self.graders.iter().find(|g| g.challenge == challenge)
    }
}

/// How a report's criteria differ from its registered grader's, when its grader version is the
/// registered one. A report of another version is stale; its criteria cannot be checked here.
pub fn criteria_mismatch(report: &Report, grader: &RegisteredGrader) -> Option<String> {
    if report.fingerprint.grader_version != grader.version {
        return None;
    }
    let listed: Vec<&Criterion> = report.criteria.iter().map(|r| &r.criterion).collect();
    let expected: Vec<&Criterion> = grader.criteria.iter().collect();
    let described = |c: &Criterion| format!("{} ({}, weight {})", c.id, c.kind.label(), c.weight);
    if listed.len() != expected.len() {
        return Some(format!(
            "lists {} criteria; grader {} has {}",
            listed.len(),
            grader.version,
            expected.len()
        ));
    }
    listed
        .iter()
        .zip(&expected)
        .find(|(found, wanted)| {
            found.id != wanted.id || found.kind != wanted.kind || found.weight != wanted.weight
        })
        .map(|(found, wanted)| {
            format!(
                "criterion {} where grader {} has {}",
                described(found),
                grader.version,
                described(wanted)
            )
        })
}
