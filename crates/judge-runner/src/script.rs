//! A submission's own test or demo script, run in the sandbox (the `self_test` criterion).

use std::path::{Component, Path};

use crate::error::RunnerError;
use crate::limits::Limits;
use crate::python_env::PythonEnv;
use crate::sandbox::{ProcessOutcome, Sandbox};

/// How a submission's own script ended.
pub type ScriptOutcome = ProcessOutcome;

/// Runs `script` (a path inside `submission_dir`, relative or absolute) with the submission's
/// Python, in a fresh sandbox holding a copy of the submission, for at most
/// `limits.total_timeout`.
pub fn run_script(
    env: &PythonEnv,
    submission_dir: &Path,
    script: &Path,
    limits: &Limits,
) -> Result<ScriptOutcome, RunnerError> {
    let relative = script.strip_prefix(submission_dir).unwrap_or(script);
    let inside = relative.is_relative()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !inside || !submission_dir.join(relative).is_file() {
        return Err(RunnerError::Submission {
            path: script.to_path_buf(),
            reason: format!("not a file inside {}", submission_dir.display()),
        });
    }
    let sandbox = Sandbox::new(Some(submission_dir))?;
    env.sandboxed(&sandbox)
        .arg(relative)
        .limits(limits.clone())
        .run()
}
