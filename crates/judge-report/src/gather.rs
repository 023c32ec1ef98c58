//! Finding and reading every GRADE.json below a root, listing what could not be read.
//!
//! The walk skips hidden entries (`.git`, `.venv`, the `.GRADE.json.tmp-*` files of an atomic
//! write in progress) and follows no symbolic link at all, so it cannot leave the root or visit a
//! report twice; a link that points at a folder or is named GRADE.json is listed as a problem so
//! its absence from the matrix is explained.
//!
//! A report's model and challenge come from where it sits, and the report must agree: only
//! `<model>/<challenge>/GRADE.json` below the root (what `judge grade ROOT` and `--out DIR`
//! write), or `<shard>/<model>/<challenge>/GRADE.json` (a folder holding the `--out` folders of
//! several shards). A model folder named after a challenge is refused, so a GRADE.json planted
//! below a submission (`ROOT/attacker/kv/victim/kv/GRADE.json`, or `ROOT/attacker/kv/fuse/…`)
//! never lands in a cell. Reports of our references sit in `reference/<challenge>/`.
//! Every report read is checked against the judge's key; see [`FoundReport::verified`].

use std::fs;
use std::path::{Path, PathBuf};

use judge_schema::report::{REPORT_FILE_NAME, UNNAMED_MODEL_DIR};
use judge_schema::{
    CandidateKind, ChallengeId, ParseError, Report, ReportSource, SCHEMA_VERSION, Unreadable,
    Unverified,
};
use serde::{Deserialize, Serialize};

use crate::matrix::REFERENCE_COLUMN;

/// Why `judge report ROOT` has nothing to show at all.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// The root does not exist.
    #[error("'{}' does not exist", .0.display())]
    Missing(PathBuf),
    /// The root is a file, not a folder.
    #[error("'{}' is not a folder", .0.display())]
    NotAFolder(PathBuf),
    /// The root could not be resolved or listed (a folder below it is only a problem).
    #[error("cannot read '{}': {source}", path.display())]
    Io {
        /// The root.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// No file named GRADE.json anywhere below the root, readable or not.
    #[error("no {REPORT_FILE_NAME} below '{}' (run `judge grade` first)", .0.display())]
    NoReports(PathBuf),
}

/// What is wrong with a file (or folder) the matrix leaves out or flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The file or a folder on the way could not be read.
    Unreadable,
    /// Not JSON, or JSON that is not a GRADE.json.
    Malformed,
    /// A GRADE.json of another schema version.
    WrongSchema,
    /// A symbolic link, not followed.
    SymbolicLink,
    /// A submission whose model is called `reference`, the name of the reference column.
    ReservedName,
    /// A second report for the same (model, challenge); the newer one is in the matrix.
    Duplicate,
    /// Graded with another grader version or prompt than the newest report of its challenge.
    /// Still in the matrix, marked stale.
    Stale,
    /// The stored `score` disagrees with its own criteria; the matrix uses the criteria.
    ScoreMismatch,
    /// Not signed with this judge's key (forged, planted or edited): shown as unverified and
    /// not counted, unless `--accept-unsigned`.
    Unverified,
    /// A GRADE.json where no report belongs, or whose model or challenge disagrees with its
    /// folders. Left out.
    Misplaced,
    /// Criteria that are not those of the registered grader of its version (ids, kinds,
    /// weights). Left out.
    CriteriaMismatch,
}

impl ProblemKind {
    /// Its name in the problems list of the Markdown and HTML pages ("wrong schema").
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::Malformed => "malformed",
            ProblemKind::WrongSchema => "wrong schema",
            ProblemKind::SymbolicLink => "symbolic link",
            ProblemKind::ReservedName => "reserved name",
            ProblemKind::Duplicate => "duplicate",
            ProblemKind::Stale => "stale",
            ProblemKind::ScoreMismatch => "score mismatch",
            ProblemKind::Unverified => "unverified",
            ProblemKind::Misplaced => "misplaced",
            ProblemKind::CriteriaMismatch => "criteria mismatch",
        }
    }
}

/// One entry of the problems list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    /// Relative to the root, `/`-separated.
    pub path: String,
    /// What is wrong.
    pub kind: ProblemKind,
    /// The particulars, in a sentence.
    pub reason: String,
}

/// A report that was read, with where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundReport {
    /// Relative to the root, `/`-separated.
    pub path: String,
    /// The report as parsed; not yet checked against the graders.
    pub report: Report,
    /// Whether its signature is this judge's: only then are its verdicts the judge's.
    pub verified: Result<(), Unverified>,
}

/// Everything below a root: the reports that parsed and the problems met on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gathered {
    /// Sorted by path.
    pub reports: Vec<FoundReport>,
    /// Sorted by path, then kind.
    pub problems: Vec<Problem>,
}

/// Reads every GRADE.json below `root` and checks its signature with `key`. Only a missing
/// root, a root that is not a folder or cannot be listed, or a tree without a single file named
/// GRADE.json is an error; a file that does not parse or sits in the wrong place is a
/// [`Problem`].
pub fn gather(root: &Path, key: &dyn ReportSource) -> Result<Gathered, GatherError> {
    if !root.exists() {
        return Err(GatherError::Missing(root.to_path_buf()));
    }
    if !root.is_dir() {
        return Err(GatherError::NotAFolder(root.to_path_buf()));
    }
    let io = |source| GatherError::Io {
        path: root.to_path_buf(),
        source,
    };
    let root = fs::canonicalize(root).map_err(io)?;
    // An unreadable root is an error; an unreadable folder below it is only a problem.
    fs::read_dir(&root).map_err(io)?;

    let mut walk = Walk {
        root: &root,
        files: Vec::new(),
        problems: Vec::new(),
    };
    walk.folder(&root);
    let Walk {
        mut files,
        mut problems,
        ..
    } = walk;
    if files.is_empty() && !problems.iter().any(|p| p.path.ends_with(REPORT_FILE_NAME)) {
        return Err(GatherError::NoReports(root));
    }

    files.sort();
    let mut reports = Vec::new();
    for path in files {
        let relative = relative(&root, &path);
        let folders: Vec<&str> = relative.split('/').collect();
        let misplaced = |reason: String| Problem {
            path: relative.clone(),
            kind: ProblemKind::Misplaced,
            reason,
        };
        let Some((model_dir, challenge)) = report_folders(&folders) else {
            problems.push(misplaced(format!(
                "a report is read only at <model>/<challenge>/{REPORT_FILE_NAME} below the root \
                 (or below one shard folder), with a model folder not named after a challenge"
            )));
            continue;
        };
        match read(key, &path) {
            Ok(report) => match disagreement(model_dir, challenge, &report) {
                Some(reason) => problems.push(misplaced(reason)),
                None => reports.push(FoundReport {
                    path: relative,
                    verified: key.verify(&report),
                    report,
                }),
            },
            Err(problem) => problems.push(Problem {
                path: relative,
                kind: problem.0,
                reason: problem.1,
            }),
        }
    }
    problems.sort();
    Ok(Gathered { reports, problems })
}

/// The model folder and challenge of a report at `folders` (the `/`-separated parts of its
/// path below the root), when that is a place a report belongs.
fn report_folders<'a>(folders: &[&'a str]) -> Option<(&'a str, ChallengeId)> {
    let (shard, model, challenge) = match *folders {
        [model, challenge, _file] => (None, model, challenge),
        [shard, model, challenge, _file] => (Some(shard), model, challenge),
        _ => return None,
    };
    let is_challenge = |name: &str| name.parse::<ChallengeId>().is_ok();
    if is_challenge(model) || shard.is_some_and(is_challenge) {
        return None;
    }
    Some((model, challenge.parse().ok()?))
}

/// Why a report does not belong where it sits (its model or challenge names other folders).
fn disagreement(model_dir: &str, challenge: ChallengeId, report: &Report) -> Option<String> {
    if report.challenge != challenge {
        return Some(format!(
            "sits in the {challenge} folder but grades {}",
            report.challenge
        ));
    }
    let expected = match report.candidate {
        CandidateKind::Reference => REFERENCE_COLUMN,
        CandidateKind::Submission => report.model.as_deref().unwrap_or(UNNAMED_MODEL_DIR),
    };
    (model_dir != expected)
        .then(|| format!("sits in the model folder '{model_dir}' but grades '{expected}'"))
}

/// The report at `path`, or the kind of problem it is and why.
fn read(source: &dyn ReportSource, path: &Path) -> Result<Report, (ProblemKind, String)> {
    let text = source.read_text(path).map_err(|error| match error {
        Unreadable {
            symbolic_link: true,
            reason,
        } => (ProblemKind::SymbolicLink, reason),
        Unreadable { reason, .. } => (ProblemKind::Unreadable, reason),
    })?;
    Report::from_json(&text).map_err(|error| match error {
        ParseError::Malformed(source) => (ProblemKind::Malformed, source.to_string()),
        ParseError::Schema { found } => (
            ProblemKind::WrongSchema,
            format!("schema version {found}; this judge reads version {SCHEMA_VERSION}"),
        ),
    })
}

/// `/`-separated path of `path` below `root`.
fn relative(root: &Path, path: &Path) -> String {
    let below = path.strip_prefix(root).unwrap_or(path);
    below
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

struct Walk<'a> {
    root: &'a Path,
    files: Vec<PathBuf>,
    problems: Vec<Problem>,
}

impl Walk<'_> {
    fn problem(&mut self, path: &Path, kind: ProblemKind, reason: String) {
        self.problems.push(Problem {
            path: relative(self.root, path),
            kind,
            reason,
        });
    }

    fn folder(&mut self, dir: &Path) {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                let reason = format!("folder not readable: {error}");
                return self.problem(dir, ProblemKind::Unreadable, reason);
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    let reason = format!("folder not listable: {error}");
                    return self.problem(dir, ProblemKind::Unreadable, reason);
                }
            };
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            // `DirEntry::file_type` does not follow links: a link is seen as a link.
            let Ok(file_type) = entry.file_type() else {
                self.problem(&path, ProblemKind::Unreadable, "cannot stat".into());
                continue;
            };
            if file_type.is_symlink() {
                let names_report = name == REPORT_FILE_NAME;
                if names_report || path.is_dir() {
                    let reason = "symbolic link, not followed".to_string();
                    self.problem(&path, ProblemKind::SymbolicLink, reason);
                }
            } else if file_type.is_dir() {
                self.folder(&path);
            } else if name == REPORT_FILE_NAME {
                if file_type.is_file() {
                    self.files.push(path);
                } else {
                    // A FIFO or device would block or never end; never open one.
                    let reason = "not a regular file".to_string();
                    self.problem(&path, ProblemKind::Unreadable, reason);
                }
            }
        }
    }
}
