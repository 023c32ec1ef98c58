//! GRADE.json (schema v1): one graded candidate, its criteria and totals, written atomically.
//!
//! A GRADE.json may sit in a folder a submission controls, so it is read like any submission
//! file (a regular file, no symlink, never blocking, capped in bytes) and written through a
//! temporary file only the judge can have created.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::challenge::ChallengeId;
use crate::criterion::{CriterionKind, CriterionResult, Verdict};
use crate::signing::random_bytes;
use crate::untrusted_fs::{UntrustedFileError, create_new, read_capped_string};

/// Bumped whenever a field changes meaning or disappears; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// The file name a report is written under, next to the submission or below `--out`.
pub const REPORT_FILE_NAME: &str = "GRADE.json";

/// The model folder `judge grade --out` files a submission under when it has no model name.
pub const UNNAMED_MODEL_DIR: &str = "_";

/// No report the judge writes comes near this; a larger GRADE.json is refused unread.
pub const REPORT_FILE_LIMIT: u64 = 16 << 20;

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
    pub sha256: String,
}

/// Where the submission came from and which file the grader chose as its entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionInfo {
    pub path: String,
    /// The module (or .cu file) the grader loaded, when one was found.
    pub entry: Option<String>,
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
    pub sha256: String,
}

/// Everything a grade depends on. Re-grading is skipped when all four are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub prompt_sha256: String,
    pub grader_version: String,
    /// Hash over the submission's file list and contents (empty for the reference).
    pub submission_sha256: String,
    pub seed: u64,
}

/// Counts of verdicts for one kind of criterion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub pass: u32,
    pub fail: u32,
    pub error: u32,
    pub skipped: u32,
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
    pub auto: Tally,
    pub self_test: Tally,
    pub manual: Tally,
}

impl Totals {
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
    pub schema: u32,
    pub judge_version: String,
    pub challenge: ChallengeId,
    /// The model folder's name, when the submission sits in `MODEL/<challenge>/`.
    pub model: Option<String>,
    pub candidate: CandidateKind,
    pub submission: Option<SubmissionInfo>,
    pub fingerprint: Fingerprint,
    /// Facts about the machine that matter for reading the result (python, numpy, sandbox, GPU).
    pub environment: BTreeMap<String, String>,
    /// Things the reader should know that are not a criterion (blocked imports, sandbox gaps).
    pub notes: Vec<String>,
    /// Seconds since the Unix epoch when grading started.
    pub started_unix: u64,
    pub seconds: f64,
    pub criteria: Vec<CriterionResult>,
    pub totals: Totals,
    pub score: f64,
    /// Model reviews of manual criteria (`judge review`), one per criterion reviewed; shown
    /// apart, never counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<crate::review::Review>,
    /// HMAC-SHA256 (hex) of [`Report::canonical_bytes`] under the judge's key
    /// ([`crate::signing`]); absent until signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Why a GRADE.json could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Missing, unreadable, or not a plain regular file of a sane size (a link, a FIFO, a
    /// device, a 4 GiB sparse file).
    #[error(transparent)]
    Read(#[from] UntrustedFileError),
    #[error("{path} is not a valid GRADE.json: {source}")]
    Malformed {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} has schema version {found}, this judge reads version {SCHEMA_VERSION}")]
    Schema { path: PathBuf, found: u32 },
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

    /// Writes the report so that a reader never sees a half-written file: a temporary file in
    /// the same directory, flushed to disk, then renamed over the target.
    pub fn write_atomic(&self, path: &Path) -> Result<(), ReportError> {
        write_atomic(path, self.to_json().as_bytes())
    }

    /// Reads a GRADE.json: only a regular file reached without a symbolic link, opened without
    /// blocking, at most [`REPORT_FILE_LIMIT`] bytes. Says nothing about who wrote it: see
    /// [`crate::signing::ReportKey::verify`].
    pub fn read(path: &Path) -> Result<Report, ReportError> {
        let text = read_capped_string(path, REPORT_FILE_LIMIT)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ReportError::Malformed {
                path: path.to_path_buf(),
                source,
            })?;
        let found = value.get("schema").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found != SCHEMA_VERSION {
            return Err(ReportError::Schema {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_value(value).map_err(|source| ReportError::Malformed {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, created
/// exclusively under an unpredictable name (so a planted `.GRADE.json.tmp-*` link is never
/// written through), then renamed over `path` (which replaces a planted link of that name
/// rather than following it).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let wrap = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(wrap)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp_name = format!(
        ".{file_name}.tmp-{}",
        crate::fingerprint::hex(&random_bytes::<8>().map_err(wrap)?)
    );
    let tmp = dir.join(&tmp_name);
    let mut file = create_new(dir, &tmp_name, 0o644).map_err(wrap)?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(wrap)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::criterion::{Criterion, Verdict};

    fn result(criterion: Criterion, verdict: Verdict) -> CriterionResult {
        CriterionResult {
            criterion,
            verdict,
            seconds: 0.5,
        }
    }

    pub(crate) fn sample_report() -> Report {
        let criteria = vec![
            result(
                Criterion::auto("matches_naive", "matches naive attention").with_weight(3),
                Verdict::pass("max rel err 2.1e-12 ≤ 1e-4"),
            ),
            result(
                Criterion::auto("no_nxn", "never allocates N×N"),
                Verdict::fail("peak 134217728 B ≥ 20% of N×N (26843545 B)"),
            ),
            result(
                Criterion::auto("gpu_speed", "faster than naive"),
                Verdict::skipped("no GPU"),
            ),
            result(
                Criterion::self_test("self_test", "own tests pass"),
                Verdict::pass("exit 0"),
            ),
            result(
                Criterion::manual("explain_rescale", "explains the rescale factor"),
                Verdict::skipped("manual: needs review"),
            ),
        ];
        Report {
            schema: SCHEMA_VERSION,
            judge_version: "0.1.0".into(),
            challenge: ChallengeId::FlashAttention,
            model: Some("some-model".into()),
            candidate: CandidateKind::Submission,
            submission: Some(SubmissionInfo {
                path: "some-model/flash_attention".into(),
                entry: Some("flash.py".into()),
                files: vec![FileHash {
                    path: "flash.py".into(),
                    sha256: "ab".repeat(32),
                }],
                adapter: None,
            }),
            fingerprint: Fingerprint {
                prompt_sha256: "cd".repeat(32),
                grader_version: "flash_attention/1".into(),
                submission_sha256: "ef".repeat(32),
                seed: 7,
            },
            environment: BTreeMap::from([("python".into(), "3.11.2".into())]),
            notes: vec![],
            started_unix: 0,
            seconds: 1.5,
            totals: Totals::of(&criteria),
            score: score(&criteria),
            criteria,
            reviews: Vec::new(),
            signature: None,
        }
    }

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
    fn reports_round_trip_through_an_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(REPORT_FILE_NAME);
        let report = sample_report();
        report.write_atomic(&path).unwrap();
        assert_eq!(Report::read(&path).unwrap(), report);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(REPORT_FILE_NAME)]);
    }

    #[test]
    fn reading_rejects_other_schema_versions_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REPORT_FILE_NAME);
        fs::write(&path, r#"{"schema": 2}"#).unwrap();
        assert!(matches!(
            Report::read(&path),
            Err(ReportError::Schema { found: 2, .. })
        ));
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            Report::read(&path),
            Err(ReportError::Malformed { .. })
        ));
    }

    #[test]
    fn planted_temporary_links_are_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        // The names the old writer used (its pid) and a spread of others.
        let mut planted = vec![format!(".{REPORT_FILE_NAME}.tmp-{}", std::process::id())];
        planted.extend((0..64).map(|n| format!(".{REPORT_FILE_NAME}.tmp-{n}")));
        for name in &planted {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        let path = dir.path().join(REPORT_FILE_NAME);
        sample_report().write_atomic(&path).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(Report::read(&path).unwrap(), sample_report());
        for name in &planted {
            let kept = fs::symlink_metadata(dir.path().join(name)).unwrap();
            assert!(kept.file_type().is_symlink(), "{name} left as it was");
        }
    }

    #[test]
    fn a_planted_report_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        let path = dir.path().join(REPORT_FILE_NAME);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(matches!(
            Report::read(&path),
            Err(ReportError::Read(UntrustedFileError::Symlink { .. }))
        ));
        sample_report().write_atomic(&path).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_file());
    }

    #[test]
    fn fifos_devices_and_huge_files_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo").join(REPORT_FILE_NAME);
        fs::create_dir_all(fifo.parent().unwrap()).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            Report::read(&fifo),
            Err(ReportError::Read(UntrustedFileError::NotRegular {
                kind: "FIFO",
                ..
            }))
        ));

        let zero = dir.path().join("zero").join(REPORT_FILE_NAME);
        fs::create_dir_all(zero.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(
            Report::read(&zero),
            Err(ReportError::Read(UntrustedFileError::Symlink { .. }))
        ));
        assert!(matches!(
            Report::read(Path::new("/dev/zero")),
            Err(ReportError::Read(UntrustedFileError::NotRegular { .. }))
        ));

        let sparse = dir.path().join(REPORT_FILE_NAME);
        fs::File::create(&sparse).unwrap().set_len(4 << 30).unwrap();
        assert!(matches!(
            Report::read(&sparse),
            Err(ReportError::Read(UntrustedFileError::TooLarge { .. }))
        ));
    }

    #[test]
    fn canonical_bytes_ignore_the_signature_and_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REPORT_FILE_NAME);
        let mut report = sample_report();
        let unsigned = report.canonical_bytes();
        report.signature = Some("00".repeat(32));
        assert_eq!(report.canonical_bytes(), unsigned);
        report.write_atomic(&path).unwrap();
        assert_eq!(Report::read(&path).unwrap().canonical_bytes(), unsigned);
        assert!(!String::from_utf8(unsigned).unwrap().contains("signature"));
    }
}
