//! Shared helpers: the managed Python, throw-away submission folders, short limits.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use judge_runner::{CallError, CallOutcome, Limits, PythonEnv, Worker, WorkerOptions};
use ndarray::Array2;
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

/// Two small arrays with values that are exact in binary, and their sum computed in Rust.
pub fn operands() -> (Array2<f64>, Array2<f64>, Array2<f64>) {
    let a = Array2::from_shape_fn((3, 4), |(i, j)| i as f64 * 0.5 - j as f64);
    let b = Array2::from_shape_fn((3, 4), |(i, j)| (i * j) as f64 + 0.25);
    let sum = &a + &b;
    (a, b, sum)
}

/// Calls the toy contract's `add` on [`operands`].
pub fn call_add(worker: &mut Worker) -> Result<CallOutcome, CallError> {
    let (a, b, _) = operands();
    worker.call_function("add", vec![a.into(), b.into()])
}
