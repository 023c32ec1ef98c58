//! The interface between the binary and the graders: one `Challenge` per challenge id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::challenge::ChallengeId;
use crate::criterion::{Criterion, CriterionResult};

/// Options of one grading run that every grader honours.
#[derive(Debug, Clone)]
pub struct GradeContext {
    /// Seeds every hidden case; recorded in the report so `--seed` reproduces a grade.
    pub seed: u64,
    /// Wall-clock limit for the whole grading of one submission (`--timeout`).
    pub total_timeout: Duration,
    /// Address-space limit for the submission's processes, in bytes.
    pub memory_bytes: u64,
    /// The corpus for ternary_training when it is not inside the submission folder.
    pub train_data: Option<PathBuf>,
    /// Whether long steps (e.g. training the ternary reference) may draw a progress bar on
    /// stderr: off under `--quiet`, without a terminal, and in tests.
    pub show_progress: bool,
    /// An adapter from outside the submission (`judge grade --adapter FILE`).
    pub adapter: Option<ExternalAdapter>,
    /// `judge grade --entry FILE`: the entry file (relative to the submission folder) when
    /// several files define the contract names.
    pub entry: Option<String>,
}

/// The file name an adapter has: in a submission folder it is the entry, and one given with
/// `--adapter` is copied into the scratch copy under this name.
pub const ADAPTER_FILE_NAME: &str = "judge_adapter.py";

/// An adapter supplied from outside the submission, read once by the judge (a regular file,
/// never through a link, capped like any untrusted file) and copied into the scratch copy only.
#[derive(Debug, Clone)]
pub struct ExternalAdapter {
    /// The path as given on the command line (GRADE.json records it).
    pub path: String,
    /// The adapter's bytes, as read once; what is hashed and copied.
    pub source: Vec<u8>,
}

impl ExternalAdapter {
    /// Largest adapter accepted: adapters are a few lines of glue.
    pub const MAX_BYTES: u64 = 1 << 20;

    /// Reads `path` through [`crate::untrusted_fs`].
    pub fn read(path: &Path) -> Result<Self, crate::untrusted_fs::UntrustedFileError> {
        let source = crate::untrusted_fs::read_capped(path, Self::MAX_BYTES)?;
        Ok(ExternalAdapter {
            path: path.display().to_string(),
            source,
        })
    }

    /// Hex SHA-256 of [`Self::source`], for the fingerprint and the report's adapter entry.
    pub fn sha256(&self) -> String {
        crate::fingerprint::sha256_hex(&self.source)
    }
}

impl GradeContext {
    /// [`Self::total_timeout`] unless given: ten minutes per submission.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
    /// [`Self::memory_bytes`] unless given: 4 GiB of address space.
    pub const DEFAULT_MEMORY_BYTES: u64 = 4 << 30;

    /// The defaults with `seed`: no progress bar, no adapter or entry from outside, the corpus
    /// looked for in the submission folder.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            total_timeout: Self::DEFAULT_TIMEOUT,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            train_data: None,
            show_progress: false,
            adapter: None,
            entry: None,
        }
    }
}

/// What a grader hands back for one candidate: a verdict for every declared criterion, plus the
/// facts a reader needs to trust it.
#[derive(Debug, Clone, Default)]
pub struct Graded {
    /// One verdict per declared criterion.
    pub results: Vec<CriterionResult>,
    /// The file the grader loaded as the submission's entry point.
    pub entry: Option<String>,
    /// The adapter through which the entry was loaded, if any (see [`crate::report::AdapterInfo`]).
    pub adapter: Option<crate::report::AdapterInfo>,
    /// Things worth knowing that are not criteria (blocked imports, sandbox gaps).
    pub notes: Vec<String>,
    /// Facts about the environment used (python and numpy versions, GPU, sandbox features).
    pub environment: BTreeMap<String, String>,
}

/// A challenge's grader. Criteria are declared once and run against both kinds of candidate.
pub trait Challenge: Send + Sync {
    /// The challenge this grader grades.
    fn id(&self) -> ChallengeId;

    /// Changes whenever a criterion or a hidden case changes, so old grades are not reused.
    fn version(&self) -> &'static str;

    /// Every criterion of the prompt, in report order.
    fn criteria(&self) -> Vec<Criterion>;

    /// Runs the criteria against our own Rust reference implementation.
    fn grade_reference(&self, ctx: &GradeContext) -> Graded;

    /// Runs the criteria against a submission folder, in the sandbox.
    fn grade_submission(&self, dir: &Path, ctx: &GradeContext) -> Graded;
}
