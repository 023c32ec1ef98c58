//! Shared helpers: the managed Python, throw-away submission folders, short limits.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use judge_runner::{Limits, PythonEnv, Worker, WorkerOptions};
use tempfile::TempDir;

/// The interpreter users get (created on first use, through the same code path).
pub fn python() -> PythonEnv {
    PythonEnv::resolve(&|message| eprintln!("python setup: {message}"))
        .expect("a Python environment")
}

/// A submission folder holding `files` (name, content).
pub fn submission(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temp folder");
    for (name, content) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("a subfolder");
        }
        std::fs::write(path, content).expect("a submission file");
    }
    dir
}

/// Limits short enough that hanging cases end quickly.
pub fn short_limits() -> Limits {
    Limits {
        call_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(30),
        ..Limits::default()
    }
}

pub fn start(dir: &Path) -> Worker {
    start_with(
        dir,
        WorkerOptions {
            limits: short_limits(),
            fixtures: Vec::new(),
        },
    )
}

pub fn start_with(dir: &Path, options: WorkerOptions) -> Worker {
    Worker::start(&python(), dir, options).expect("the worker starts")
}
