//! Driving `fuse-runner`, the sandboxed process that loads a shared library and calls it
//! (source: `src/runner/fuse_runner.cpp`, compiled by nvcc at grade time).
//!
//! - [`run_job`]: the judge writes a job (directives, one per line) and the logits into the
//!   sandbox's judge-owned root, starts the runner inside the sandbox with the GPU device nodes,
//!   and reads back `results.jsonl` and the `[rows, k]` outputs from the folder the runner wrote
//!   in the sandbox's work folder. Expected outputs never leave the judge.
//! - [`TimingSession`]: a runner answering timing requests one at a time on private pipes; the
//!   judge measures each request's round trip on its own clock (`crate::speed`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fuse::TopK;
use judge_runner::{Limits, ProcessOutcome, Sandbox};
use serde::Deserialize;

use crate::cases::Case;

mod timing;

pub use timing::{CopyReply, RepReply, TimedLibrary, TimingError, TimingSession};

/// The runner's source, compiled with nvcc next to the submission.
pub const RUNNER_SOURCE: &str = include_str!("runner/fuse_runner.cpp");

/// Allocation functions the runner counts: a library linked with `--wrap=NAME` for each calls
/// the runner's `__wrap_NAME`.
pub const WRAPPED_ALLOCATORS: [&str; 13] = [
    "cudaMalloc",
    "cudaMallocAsync",
    "cudaMallocAsync_ptsz",
    "cudaMallocFromPoolAsync",
    "cudaMallocFromPoolAsync_ptsz",
    "cudaMallocManaged",
    "cudaMallocPitch",
    "cudaMallocHost",
    "cudaHostAlloc",
    "cudaFree",
    "cudaFreeAsync",
    "cudaFreeAsync_ptsz",
    "cudaFreeHost",
];

/// A built runner and what it needs to run in the sandbox.
#[derive(Debug, Clone)]
pub struct RunnerBuild {
    /// The `fuse-runner` executable.
    pub runner: PathBuf,
    /// The naive baseline's shared library (`naive_softmax_topk`), timed against the submission.
    pub naive_library: PathBuf,
    /// The reference kernel's shared library (`fused_softmax_topk`): the yardstick of the
    /// implausible-speed-up flag.
    pub reference_library: PathBuf,
    /// `LD_LIBRARY_PATH` of the runner (where `libcudart.so.N` is).
    pub library_path: Vec<PathBuf>,
    /// Folders the sandboxed runner must read besides the system ones.
    pub read_paths: Vec<PathBuf>,
    /// Device nodes it may open (`/dev/nvidia0`, `/dev/nvidiactl`, `/dev/nvidia-uvm`, …).
    pub devices: Vec<PathBuf>,
    /// Limits of one runner process (address space unlimited: CUDA reserves far more than it uses).
    pub limits: Limits,
}

impl RunnerBuild {
    /// Limits for a runner on a GPU: unlimited address space, two minutes per job.
    pub fn gpu_limits() -> Limits {
        Limits {
            memory_bytes: u64::MAX,
            call_timeout: Duration::from_secs(120),
            total_timeout: Duration::from_secs(120),
            ..Limits::default()
        }
    }
}

/// `/dev/nvidia*` nodes present on this machine (the GPUs, `nvidiactl`, `nvidia-uvm`, …).
pub fn nvidia_device_nodes() -> Vec<PathBuf> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir("/dev")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
                .map(|e| e.path())
                .filter(|p| !p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

/// The runner's account of one `check` directive.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckRecord {
    /// The [`Case::name`] it answers.
    pub case: String,
    /// What the entry point returned (0 = cudaSuccess).
    pub status: i32,
    /// `cudaGetErrorName` of `status`, for evidence.
    pub status_name: String,
    /// What synchronising the stream after it reported (a fault inside the kernel).
    pub sync_status: i32,
    /// `cudaGetErrorName` of `sync_status`, for evidence.
    pub sync_status_name: String,
}

/// A library the runner could not load (no such symbol, missing dependency).
#[derive(Debug, Clone, Deserialize)]
pub struct LoadRecord {
    /// The library's name in the job (`submission`).
    pub library: String,
    /// What `dlopen` or `dlsym` said.
    pub error: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Record {
    Check(CheckRecord),
    Load(LoadRecord),
}

/// What one run of the runner left behind.
#[derive(Debug)]
pub struct JobOutput {
    /// One record per case the runner reached, with its `[rows, k]` outputs when both files
    /// were written at the right size.
    pub checks: Vec<(CheckRecord, Option<TopK>)>,
    /// Set when the library did not load: no case ran.
    pub load_failure: Option<LoadRecord>,
    /// How the runner process ended: its exit, and what it printed.
    pub process: ProcessOutcome,
}

impl JobOutput {
    /// Why the runner stopped early, for evidence: its exit and the last lines it printed.
    pub fn stop_reason(&self) -> String {
        let tail = self.process.stderr.last_lines(3);
        let tail = tail.trim();
        if tail.is_empty() {
            format!("fuse-runner {}", self.process.status)
        } else {
            format!("fuse-runner {}: {tail}", self.process.status)
        }
    }

    /// The record and outputs of the case named `case`, if the runner got to it.
    pub fn check(&self, case: &str) -> Option<&(CheckRecord, Option<TopK>)> {
        self.checks.iter().find(|(record, _)| record.case == case)
    }
}

/// Why a job could not be run at all (the judge's side: files, the sandbox).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Writing the job or the logits into the sandbox failed.
    #[error("writing the job for fuse-runner: {0}")]
    Io(#[from] std::io::Error),
    /// The sandbox could not start or run the runner.
    #[error(transparent)]
    Sandbox(#[from] judge_runner::RunnerError),
    /// `results.jsonl` held a line that is not a record.
    #[error("fuse-runner wrote an unreadable result line {line:?}: {reason}")]
    Results {
        /// The line, cut at 200 characters.
        line: String,
        /// Why it did not parse.
        reason: String,
    },
}

/// Runs `cases` through `library` (a path the sandbox can read), one call each, in one runner
/// process of `sandbox`. `label` names the job's files; one label per job and sandbox.
pub fn run_job(
    build: &RunnerBuild,
    sandbox: &Sandbox,
    library: &Path,
    label: &str,
    cases: &[&Case],
) -> Result<JobOutput, JobError> {
    let inputs = sandbox.root_dir().join(format!("{label}-inputs"));
    std::fs::create_dir_all(&inputs)?;
    let mut job = String::new();
    writeln!(
        job,
        "library submission {} fused_softmax_topk",
        library.display()
    )
    .expect("writing to a String cannot fail");
    for case in cases {
        let file = inputs.join(format!("{}.f32", case.logits_name));
        if !file.exists() {
            std::fs::write(&file, f32_bytes(&case.logits))?;
        }
        writeln!(
            job,
            "check {} submission {} {} {} {}",
            case.name,
            case.rows,
            case.vocab,
            case.k,
            file.display()
        )
        .expect("writing to a String cannot fail");
    }
    let job_file = sandbox.root_dir().join(format!("{label}.job"));
    std::fs::write(&job_file, job)?;
    let out_dir = sandbox.work_dir().join(format!(".fuse-{label}"));

    let process = runner_command(build, sandbox, &job_file, &out_dir)?.run()?;
    collect(&out_dir, cases, process)
}

/// The sandboxed command line of the runner on `job_file`, writing into `out_dir`.
fn runner_command<'s>(
    build: &RunnerBuild,
    sandbox: &'s Sandbox,
    job_file: &Path,
    out_dir: &Path,
) -> Result<judge_runner::SandboxCommand<'s>, JobError> {
    let library_path = std::env::join_paths(&build.library_path)
        .map_err(|e| JobError::Io(std::io::Error::other(e)))?;
    let mut command = sandbox
        .command(&build.runner)
        .arg(job_file)
        .arg(out_dir)
        .env("LD_LIBRARY_PATH", library_path.to_string_lossy())
        // Kernels load at their first launch: a library's device code and static arrays
        // arrive during its call, under the device-memory hold (`memory`).
        .env("CUDA_MODULE_LOADING", "LAZY")
        .limits(build.limits.clone());
    for path in &build.read_paths {
        command = command.read_path(path);
    }
    for device in &build.devices {
        command = command.device(device);
    }
    Ok(command)
}

/// Reads what the runner wrote. Everything in the work folder belongs to the sandbox, so
/// nothing is followed through a symlink (the runner is dead by now, so nothing can change).
fn collect(
    out_dir: &Path,
    cases: &[&Case],
    process: ProcessOutcome,
) -> Result<JobOutput, JobError> {
    let mut output = JobOutput {
        checks: Vec::new(),
        load_failure: None,
        process,
    };
    let Some(text) = read_plain_file(&out_dir.join("results.jsonl")) else {
        return Ok(output);
    };
    let text = String::from_utf8_lossy(&text);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: Record = serde_json::from_str(line).map_err(|e| JobError::Results {
            line: line.chars().take(200).collect(),
            reason: e.to_string(),
        })?;
        match record {
            Record::Check(record) => {
                let outputs = cases
                    .iter()
                    .find(|case| case.name == record.case)
                    .and_then(|case| read_outputs(out_dir, &record.case, case.rows, case.k));
                output.checks.push((record, outputs));
            }
            Record::Load(record) => output.load_failure = Some(record),
        }
    }
    Ok(output)
}

/// `CASE.idx` (i32) and `CASE.prob` (f32), `[rows, k]` each, or None when either is missing or
/// of the wrong size.
fn read_outputs(out_dir: &Path, case: &str, rows: usize, k: usize) -> Option<TopK> {
    let expected = rows * k * 4;
    let idx = read_plain_file(&out_dir.join(format!("{case}.idx")))?;
    let prob = read_plain_file(&out_dir.join(format!("{case}.prob")))?;
    if idx.len() != expected || prob.len() != expected {
        return None;
    }
    Some(top_k_from_bytes(&idx, &prob, rows, k))
}

/// `[rows, k]` little-endian i32 indices and f32 probabilities as a [`TopK`].
fn top_k_from_bytes(idx: &[u8], prob: &[u8], rows: usize, k: usize) -> TopK {
    let words = |bytes: &[u8]| -> Vec<[u8; 4]> {
        bytes
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect()
    };
    TopK {
        rows,
        k,
        indices: words(idx).into_iter().map(i32::from_le_bytes).collect(),
        probs: words(prob).into_iter().map(f32::from_le_bytes).collect(),
    }
}

/// The contents of `path` if it is a regular file inside a real (non-symlink) folder.
fn read_plain_file(path: &Path) -> Option<Vec<u8>> {
    let folder_is_real = path
        .parent()
        .and_then(|dir| dir.symlink_metadata().ok())
        .is_some_and(|m| m.is_dir());
    let file_is_plain = path.symlink_metadata().is_ok_and(|m| m.is_file());
    if folder_is_real && file_is_plain {
        std::fs::read(path).ok()
    } else {
        None
    }
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
