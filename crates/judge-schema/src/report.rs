//! GRADE.json (schema v1): one graded candidate, its criteria and totals.
//!
//! The types and their JSON only; reading a file a submission may have planted, and writing one
//! atomically, are judge-core's (`judge_core::report`), because both need its untrusted file
//! access.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::challenge::ChallengeId;
use crate::criterion::{CriterionKind, CriterionResult, Verdict};

/// Bumped whenever a field changes meaning or disappears; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// The file name a report is written under, next to the submission or below `--out`.
pub const REPORT_FILE_NAME: &str = "GRADE.json";

/// The model folder `judge grade --out` files a submission under when it has no model name.
pub const UNNAMED_MODEL_DIR: &str = "_";

/// The report environment entry that names the machine a grade ran on (for reports in papers).
pub const MACHINE_ENVIRONMENT_KEY: &str = "machine";

/// What was graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    /// Our own Rust reference implementation (`judge reference`).
    Reference,
    /// A model's submission folder (`judge grade`).
    Submission,
}

/// A file of the submission and its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    /// Path relative to the submission folder, with `/` separators.
    pub path: String,
    /// SHA-256 of the file's bytes, in hex.
    pub sha256: String,
}

/// Where the submission came from and which file the grader chose as its entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionInfo {
    /// The submission folder as given on the command line.
    pub path: String,
    /// The module (or .cu file) the grader loaded, when one was found.
    pub entry: Option<String>,
    /// Every file graded, with its hash, sorted by path.
    pub files: Vec<FileHash>,
    /// The adapter that mapped the submission's own API onto the contract, when one was used:
    /// such a grade did not follow the interface and every report says "via adapter".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterInfo>,
}

/// An adapter (`judge_adapter.py` in the folder, or `judge grade --adapter FILE`) and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterInfo {
    /// Where it came from: the path given to `--adapter`, or `judge_adapter.py` in the folder.
    pub path: String,
    /// SHA-256 of the adapter's bytes, in hex.
    pub sha256: String,
}

/// Everything a grade depends on. Re-grading is skipped when all four are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// SHA-256 of the prompt the submission answered.
    pub prompt_sha256: String,
    /// The grader and its version, as `kv/1`: a new version invalidates old grades.
    pub grader_version: String,
    /// Hash over the submission's file list and contents (empty for the reference).
    pub submission_sha256: String,
    /// The seed the hidden inputs were generated from.
    pub seed: u64,
}

/// Counts of verdicts for one kind of criterion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Criteria that passed.
    pub pass: u32,
    /// Criteria that ran and missed.
    pub fail: u32,
    /// Criteria that could not be run or decided.
    pub error: u32,
    /// Criteria not decided, with a reason (no GPU, needs review).
    pub skipped: u32,
    /// All criteria of the kind.
    pub total: u32,
}

impl Tally {
    fn add(&mut self, verdict: &Verdict) {
        self.total += 1;
        match verdict {
            Verdict::Pass { .. } => self.pass += 1,
            Verdict::Fail { .. } => self.fail += 1,
            Verdict::Error { .. } => self.error += 1,
            Verdict::Skipped { .. } => self.skipped += 1,
        }
    }
}

/// Verdict counts per criterion kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// The scored criteria.
    pub auto: Tally,
    /// The submission's own tests.
    pub self_test: Tally,
    /// Prose items for review.
    pub manual: Tally,
}

impl Totals {
    /// The counts of `results`, per kind.
    pub fn of(results: &[CriterionResult]) -> Self {
        let mut totals = Totals::default();
        for result in results {
            let tally = match result.criterion.kind {
                CriterionKind::Auto => &mut totals.auto,
                CriterionKind::SelfTest => &mut totals.self_test,
                CriterionKind::Manual => &mut totals.manual,
            };
            tally.add(&result.verdict);
        }
        totals
    }
}

/// The weighted fraction of auto criteria that passed. Skipped auto criteria (no GPU, no
/// corpus) stay in the denominator: a check that did not run is not evidence of correctness.
pub fn score(results: &[CriterionResult]) -> f64 {
    let auto = results
        .iter()
        .filter(|r| r.criterion.kind == CriterionKind::Auto);
    let (passed, total) = auto.fold((0u64, 0u64), |(passed, total), r| {
        let weight = u64::from(r.criterion.weight);
        let won = if r.verdict.is_pass() { weight } else { 0 };
        (passed + won, total + weight)
    });
    if total == 0 {
        0.0
    } else {
        passed as f64 / total as f64
    }
}

/// One GRADE.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The schema version, [`SCHEMA_VERSION`] for every report this judge writes.
    pub schema: u32,
    /// The version of the judge that graded it.
    pub judge_version: String,
    /// The challenge graded.
    pub challenge: ChallengeId,
    /// The model folder's name, when the submission sits in `MODEL/<challenge>/`.
    pub model: Option<String>,
    /// Whether this grades a submission or our reference.
    pub candidate: CandidateKind,
    /// What was graded; absent for the reference.
    pub submission: Option<SubmissionInfo>,
    /// What the grade depends on; reuse requires all of it unchanged.
    pub fingerprint: Fingerprint,
    /// Facts about the machine that matter for reading the result (python, numpy, sandbox, GPU).
    pub environment: BTreeMap<String, String>,
    /// Things the reader should know that are not a criterion (blocked imports, sandbox gaps).
    pub notes: Vec<String>,
    /// Seconds since the Unix epoch when grading started.
    pub started_unix: u64,
    /// Wall-clock seconds the whole grade took.
    pub seconds: f64,
    /// Every criterion of the grader, in its order, with its verdict.
    pub criteria: Vec<CriterionResult>,
    /// Verdict counts per kind.
    pub totals: Totals,
    /// The weighted fraction of auto criteria passed ([`score`]).
    pub score: f64,
    /// Model reviews of manual criteria (`judge review`), one per criterion reviewed; shown
    /// apart, never counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<crate::review::Review>,
    /// HMAC-SHA256 (hex) of [`Report::canonical_bytes`] under the judge's key
    /// (`judge_core::signing`); absent until signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Why a GRADE.json's text is not a report this judge reads.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or JSON that is not a GRADE.json.
    #[error(transparent)]
    Malformed(serde_json::Error),
    /// A GRADE.json of another schema version (0 when it names none).
    #[error("schema version {found}, this judge reads version {SCHEMA_VERSION}")]
    Schema {
        /// The version the text declares.
        found: u32,
    },
}

/// Why a report does not verify against the judge's key (checked by `judge_core::signing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unverified {
    /// No `signature` field at all.
    Unsigned,
    /// A signature that does not match: the report was edited, or signed with another key.
    Mismatch,
}

impl fmt::Display for Unverified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unverified::Unsigned => "not signed by this judge (no signature)",
            Unverified::Mismatch => {
                "not signed by this judge (the signature does not match: edited, or signed with another key)"
            }
        })
    }
}

/// Where a reader of GRADE.json files gets their bytes and their trust from. judge-core
/// implements it for its report key (files opened as untrusted files, signatures checked with
/// the key), so judge-report, which takes one, needs neither the key nor that file access.
pub trait ReportSource: fmt::Debug {
    /// The text of the GRADE.json at `path`, read without following a link or blocking.
    fn read_text(&self, path: &Path) -> Result<String, Unreadable>;

    /// Whether `report` is signed by this judge.
    fn verify(&self, report: &Report) -> Result<(), Unverified>;
}

/// Why the bytes of a GRADE.json could not be had (missing, a link, a FIFO, too large).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unreadable {
    /// The path is a symbolic link, which is never followed.
    pub symbolic_link: bool,
    /// What went wrong, as the file access says it.
    pub reason: String,
}

impl Report {
    /// Whether no auto criterion failed or errored (skips allowed).
    pub fn all_auto_passed(&self) -> bool {
        self.totals.auto.fail == 0 && self.totals.auto.error == 0
    }

    /// Whether any verdict is a harness fault (our bug or a broken environment).
    pub fn has_harness_fault(&self) -> bool {
        self.criteria.iter().any(|r| r.verdict.is_harness_fault())
    }

    /// The report as GRADE.json holds it (pretty-printed JSON).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a Report always serialises")
    }

    /// The bytes a signature covers: the compact JSON of the report without its `signature`,
    /// fields in declaration order (maps are sorted), numbers as serde_json writes them.
    /// Reading a file back and re-serialising gives the same bytes for any value it holds.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let unsigned = Report {
            signature: None,
            ..self.clone()
        };
        serde_json::to_vec(&unsigned).expect("a Report always serialises")
    }

    /// Parses a GRADE.json's text. The schema version is checked before the fields, so a
    /// report of another version is named as such rather than as malformed.
    pub fn from_json(text: &str) -> Result<Report, ParseError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(ParseError::Malformed)?;
        let found = value.get("schema").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found != SCHEMA_VERSION {
            return Err(ParseError::Schema { found });
        }
        serde_json::from_value(value).map_err(ParseError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_report;

    #[test]
    fn score_weighs_auto_criteria_and_counts_skips_as_not_passed() {
        let report = sample_report();
        // weights: pass 3, fail 1, skipped 1 → 3/5
        assert!((report.score - 0.6).abs() < 1e-12);
        assert_eq!(report.totals.auto.total, 3);
        assert_eq!(report.totals.auto.skipped, 1);
        assert_eq!(report.totals.self_test.pass, 1);
        assert_eq!(report.totals.manual.skipped, 1);
        assert!(!report.all_auto_passed());
    }

    #[test]
    fn score_of_no_auto_criteria_is_zero() {
        assert_eq!(score(&[]), 0.0);
    }

    #[test]
    fn parsing_rejects_other_schema_versions_and_garbage() {
        assert!(matches!(
            Report::from_json(r#"{"schema": 2}"#),
            Err(ParseError::Schema { found: 2 })
        ));
        assert!(matches!(
            Report::from_json("{not json"),
            Err(ParseError::Malformed(_))
        ));
        let report = sample_report();
        assert_eq!(Report::from_json(&report.to_json()).unwrap(), report);
    }
}
