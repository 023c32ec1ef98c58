//! Harness-side failures: things that stop the judge from running a submission at all.
//! A submission that misbehaves is not a `RunnerError`; it is a [`CallError`](crate::CallError)
//! or a failed [`ScriptOutcome`](crate::ScriptOutcome).

use std::io;
use std::path::PathBuf;

/// Why the judge could not run a submission (a harness or environment fault, exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// No interpreter could be found or made for the submissions.
    #[error("no usable Python: {0}")]
    Python(String),
    /// `$JUDGE_PYTHON` names an interpreter that cannot be used.
    #[error("JUDGE_PYTHON={path}: {reason}")]
    JudgePython {
        /// The value of `$JUDGE_PYTHON`.
        path: PathBuf,
        /// What went wrong running it, outside the sandbox or in it.
        reason: String,
    },
    /// Creating the managed virtual environment failed.
    #[error("setting up the managed Python environment at {path}: {reason}")]
    EnvSetup {
        /// The environment's folder.
        path: PathBuf,
        /// The step that failed, and why.
        reason: String,
    },
    /// The submission folder (or a script in it) cannot be used.
    #[error("submission {path}: {reason}")]
    Submission {
        /// The folder or file concerned.
        path: PathBuf,
        /// Why it cannot be used (not a folder, over a tree limit, a symbolic link).
        reason: String,
    },
    /// The sandbox could not be built or started.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The worker did not come up (its start-up itself failed, before any submission code ran).
    #[error("python worker failed to start: {0}")]
    WorkerStart(String),
    /// A file-system or process operation of the judge itself failed.
    #[error("{context}: {source}")]
    Io {
        /// What the judge was doing, e.g. the file it was writing.
        context: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

impl RunnerError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> RunnerError {
        let context = context.into();
        move |source| RunnerError::Io { context, source }
    }
}
