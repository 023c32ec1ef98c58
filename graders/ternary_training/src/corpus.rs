//! Where the training corpus comes from: `--train-data` (`GradeContext::train_data`), else the
//! submission folder's `train_data.txt` (where `judge scaffold` put it), else `./train_data.txt`.
//! The first and last are the operator's; the submission's copy is read like any other
//! submission file ([`judge_core::untrusted_fs`]): a link to a root-only file is never read.

use std::path::{Path, PathBuf};

use judge_core::untrusted_fs;

/// The corpus file name of the prompt.
pub const TRAIN_DATA_FILE: &str = "train_data.txt";

/// Largest corpus read (the prompt's is ~270 kB).
pub const MAX_CORPUS_BYTES: u64 = 256 << 20;

/// The corpus, or why there is none.
#[derive(Debug, Clone)]
pub enum Corpus {
    /// The corpus was read.
    Found {
        /// Where it was found, for evidence.
        path: PathBuf,
        /// Its contents, as bytes: the validation split is a byte range.
        bytes: Vec<u8>,
    },
    /// No corpus anywhere: the corpus-dependent criteria are SKIPPED with this reason.
    Missing(String),
    /// A corpus was named but cannot be read: those criteria are a harness ERROR.
    Unreadable(String),
    /// The submission's own corpus is not a plain file the judge will read (a symlink, a FIFO,
    /// too large): those criteria are the submission's ERROR.
    Refused(String),
}

impl Corpus {
    /// Looks in `explicit`, then each of `candidates` in order.
    pub fn find(explicit: Option<&Path>, candidates: &[PathBuf]) -> Self {
        if let Some(path) = explicit {
            return Self::read(path);
        }
        match candidates.iter().find(|p| p.is_file()) {
            Some(path) => Self::read(path),
            None => Self::missing(candidates),
        }
    }

    /// No corpus in any of `candidates`.
    fn missing(candidates: &[PathBuf]) -> Self {
        Corpus::Missing(format!(
            "no corpus: pass --train-data FILE or put {TRAIN_DATA_FILE} in {}",
            candidates
                .iter()
                .map(|p| match p.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir.display().to_string(),
                    _ => "the current folder".to_string(),
                })
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    }

    /// For a submission: `--train-data`, its folder, the working directory.
    pub fn for_submission(explicit: Option<&Path>, dir: &Path) -> Self {
        if explicit.is_some() {
            return Self::find(explicit, &[]);
        }
        let own = dir.join(TRAIN_DATA_FILE);
        match untrusted_fs::read_capped(&own, MAX_CORPUS_BYTES) {
            Ok(bytes) => Corpus::Found { path: own, bytes },
            Err(e) if e.is_not_found() => {
                let working = PathBuf::from(TRAIN_DATA_FILE);
                if working.is_file() {
                    Self::read(&working)
                } else {
                    Self::missing(&[own, working])
                }
            }
            Err(e) => Corpus::Refused(e.to_string()),
        }
    }

    /// For the reference: `--train-data`, the working directory.
    pub fn for_reference(explicit: Option<&Path>) -> Self {
        Self::find(explicit, &[PathBuf::from(TRAIN_DATA_FILE)])
    }

    fn read(path: &Path) -> Self {
        let unreadable = |why: String| Corpus::Unreadable(format!("{}: {why}", path.display()));
        match std::fs::metadata(path) {
            Ok(meta) if meta.len() > MAX_CORPUS_BYTES => {
                unreadable(format!("{} bytes exceed {MAX_CORPUS_BYTES}", meta.len()))
            }
            Ok(_) => match std::fs::read(path) {
                Ok(bytes) => Corpus::Found {
                    path: path.to_path_buf(),
                    bytes,
                },
                Err(e) => unreadable(e.to_string()),
            },
            Err(e) => unreadable(e.to_string()),
        }
    }
}
