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
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use fuse::TopK;
use judge_runner::{Limits, ProcessOutcome, Sandbox, SandboxedProcess};
use serde::Deserialize;

use crate::cases::Case;

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
    pub case: String,
    /// What the entry point returned (0 = cudaSuccess).
    pub status: i32,
    pub status_name: String,
    /// What synchronising the stream after it reported (a fault inside the kernel).
    pub sync_status: i32,
    pub sync_status_name: String,
}

/// A library the runner could not load (no such symbol, missing dependency).
#[derive(Debug, Clone, Deserialize)]
pub struct LoadRecord {
    pub library: String,
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
    pub checks: Vec<(CheckRecord, Option<TopK>)>,
    pub load_failure: Option<LoadRecord>,
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

    pub fn check(&self, case: &str) -> Option<&(CheckRecord, Option<TopK>)> {
        self.checks.iter().find(|(record, _)| record.case == case)
    }
}

/// Why a job could not be run at all (the judge's side: files, the sandbox).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("writing the job for fuse-runner: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] judge_runner::RunnerError),
    #[error("fuse-runner wrote an unreadable result line {line:?}: {reason}")]
    Results { line: String, reason: String },
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

/// A library a timing session loads, under the name its requests use.
#[derive(Debug, Clone, Copy)]
pub struct TimedLibrary<'a> {
    pub name: &'a str,
    pub path: &'a Path,
    pub symbol: &'a str,
}

/// What the runner said about one timed call, and how long the judge waited for it.
#[derive(Debug, Clone)]
pub struct RepReply {
    pub status: i32,
    pub status_name: String,
    pub sync_status: i32,
    pub sync_status_name: String,
    /// The call's time by the runner's CUDA events: a claim where the process holds a
    /// submission.
    pub claimed_ms: f64,
    /// From writing the request to having the whole reply, on the judge's clock.
    pub span_ms: f64,
    pub allocation_calls: u64,
    pub allocation_peak: u64,
    /// The `[rows, k]` outputs; None after a fault.
    pub outputs: Option<TopK>,
}

/// A timed copy: the runner's CUDA-event time and the judge's round trip.
#[derive(Debug, Clone, Copy)]
pub struct CopyReply {
    pub claimed_ms: f64,
    pub span_ms: f64,
}

/// Why a timing session ended early.
#[derive(Debug, thiserror::Error)]
pub enum TimingError {
    #[error(transparent)]
    Job(#[from] JobError),
    /// The runner died, went silent past its deadline, or broke the protocol: what it left.
    #[error("{0}")]
    Stopped(String),
}

/// Reply lines are short; anything longer is a broken (or hostile) runner.
const MAX_REPLY_LINE: u64 = 512;
/// Outputs larger than any timed shape's are refused before they are read.
const MAX_REPLY_BYTES: usize = 64 << 20;

/// One reply as the reader thread received it, stamped when it was complete.
struct Received {
    fields: Vec<String>,
    payload: Vec<u8>,
    at: Instant,
}

/// A runner process answering timing requests (`serve` in fuse_runner.cpp). The judge writes a
/// request, waits for the whole reply, and only then writes the next, so the round trip it
/// measures encloses all the work the request caused; the reply's own times are claims.
pub struct TimingSession {
    process: SandboxedProcess,
    requests: std::io::PipeWriter,
    replies: Receiver<Result<Received, String>>,
    next_nonce: u64,
    shape: (usize, usize),
}

impl TimingSession {
    /// Starts a runner in `sandbox` that loads `libraries` and serves timing requests.
    pub fn start(
        build: &RunnerBuild,
        sandbox: &Sandbox,
        label: &str,
        libraries: &[TimedLibrary<'_>],
    ) -> Result<TimingSession, TimingError> {
        let mut job = String::new();
        for library in libraries {
            writeln!(
                job,
                "library {} {} {}",
                library.name,
                library.path.display(),
                library.symbol
            )
            .expect("writing to a String cannot fail");
        }
        job.push_str("serve\n");
        let job_file = sandbox.root_dir().join(format!("{label}.job"));
        std::fs::write(&job_file, job).map_err(JobError::Io)?;
        let out_dir = sandbox.work_dir().join(format!(".fuse-{label}"));
        let (request_reader, requests) = std::io::pipe().map_err(JobError::Io)?;
        let (reply_reader, reply_writer) = std::io::pipe().map_err(JobError::Io)?;
        let process = runner_command(build, sandbox, &job_file, &out_dir)?
            .protocol_fds(OwnedFd::from(request_reader), OwnedFd::from(reply_writer))
            .spawn()
            .map_err(JobError::Sandbox)?;
        let (sender, replies) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reply_reader);
            loop {
                let received = read_reply(&mut reader);
                let failed = received.is_err();
                if sender.send(received).is_err() || failed {
                    return;
                }
            }
        });
        Ok(TimingSession {
            process,
            requests,
            replies,
            next_nonce: 0,
            shape: (0, 0),
        })
    }

    /// Allocates the buffers for `[rows, vocab]` logits, top-k of `k`, and an L2 flush of
    /// `flush_bytes`.
    pub fn shape(
        &mut self,
        rows: usize,
        vocab: usize,
        k: usize,
        flush_bytes: u64,
    ) -> Result<(), TimingError> {
        self.shape = (rows, k);
        let reply = self.request(&format!("shape {rows} {vocab} {k} {flush_bytes}"))?;
        match reply.fields.first().map(String::as_str) {
            Some("ready") => Ok(()),
            _ => Err(self.broken(&reply, "ready")),
        }
    }

    /// One timed call of `library` on fresh logits generated from `seed` (see
    /// `cases::generated_row`).
    pub fn rep(&mut self, library: &str, seed: u64, scale: f32) -> Result<RepReply, TimingError> {
        let nonce = self.nonce();
        let started = Instant::now();
        let reply = self.request(&format!("rep {nonce} {library} {seed} {scale}"))?;
        let fields = &reply.fields;
        if fields.len() != 10 || fields[0] != "rep" || fields[1] != nonce {
            return Err(self.broken(&reply, &format!("rep {nonce} …")));
        }
        let number = |i: usize| fields[i].parse::<f64>().ok();
        let (Some(status), Some(sync), Some(ms), Some(calls), Some(peak), Some(bytes)) = (
            number(2),
            number(4),
            number(6),
            number(7),
            number(8),
            number(9),
        ) else {
            return Err(self.broken(&reply, "numbers"));
        };
        let (rows, k) = self.shape;
        let outputs = match bytes as usize {
            0 => None,
            n if n == rows * k * 8 => {
                let (idx, prob) = reply.payload.split_at(rows * k * 4);
                Some(top_k_from_bytes(idx, prob, rows, k))
            }
            _ => return Err(self.broken(&reply, &format!("{} output bytes", rows * k * 8))),
        };
        Ok(RepReply {
            status: status as i32,
            status_name: fields[3].clone(),
            sync_status: sync as i32,
            sync_status_name: fields[5].clone(),
            claimed_ms: ms,
            span_ms: millis(reply.at - started),
            allocation_calls: calls as u64,
            allocation_peak: peak as u64,
            outputs,
        })
    }

    /// One timed device-to-device copy of the logits.
    pub fn copy(&mut self) -> Result<CopyReply, TimingError> {
        let nonce = self.nonce();
        let started = Instant::now();
        let reply = self.request(&format!("copy {nonce}"))?;
        let claimed =
            (reply.fields.len() == 3 && reply.fields[0] == "copy" && reply.fields[1] == nonce)
                .then(|| reply.fields[2].parse::<f64>().ok())
                .flatten();
        match claimed {
            Some(claimed_ms) => Ok(CopyReply {
                claimed_ms,
                span_ms: millis(reply.at - started),
            }),
            None => Err(self.broken(&reply, &format!("copy {nonce} MS"))),
        }
    }

    fn nonce(&mut self) -> String {
        self.next_nonce += 1;
        self.next_nonce.to_string()
    }

    fn request(&mut self, line: &str) -> Result<Received, TimingError> {
        if self
            .requests
            .write_all(format!("{line}\n").as_bytes())
            .is_err()
        {
            return Err(self.stopped("the runner stopped reading requests"));
        }
        let remaining = self
            .process
            .deadline()
            .saturating_duration_since(Instant::now());
        match self.replies.recv_timeout(remaining) {
            Ok(Ok(received)) => Ok(received),
            Ok(Err(why)) => Err(self.stopped(&why)),
            Err(RecvTimeoutError::Timeout) => Err(self.stopped("no reply before the time limit")),
            Err(RecvTimeoutError::Disconnected) => Err(self.stopped("the reply pipe closed")),
        }
    }

    fn broken(&mut self, reply: &Received, expected: &str) -> TimingError {
        let got: String = reply.fields.join(" ").chars().take(120).collect();
        self.stopped(&format!(
            "fuse-runner broke the timing protocol: expected {expected:?}, got {got:?}"
        ))
    }

    /// Ends the process and says how it ended, with the last lines it printed.
    fn stopped(&mut self, why: &str) -> TimingError {
        let status = match self
            .process
            .wait_until(Instant::now() + Duration::from_secs(2))
        {
            Some(status) => judge_runner::describe_exit(status),
            None => {
                self.process.kill();
                "still running, killed".to_string()
            }
        };
        let tail = self.process.stderr().last_lines(3);
        let tail = tail.trim();
        TimingError::Stopped(if tail.is_empty() {
            format!("{why} (fuse-runner {status})")
        } else {
            format!("{why} (fuse-runner {status}: {tail})")
        })
    }
}

impl Drop for TimingSession {
    fn drop(&mut self) {
        self.process.kill();
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Reads one reply: a line of fields, and for `rep` the number of payload bytes its last
/// field announces.
fn read_reply(reader: &mut impl BufRead) -> Result<Received, String> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_REPLY_LINE)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading a reply: {e}"))?;
    if line.last() != Some(&b'\n') {
        return Err(if line.is_empty() {
            "the runner closed its reply pipe".into()
        } else {
            "the runner sent an overlong or unterminated reply line".into()
        });
    }
    let fields: Vec<String> = String::from_utf8_lossy(&line)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let announced = match fields.first().map(String::as_str) {
        Some("rep") => fields
            .last()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0),
        _ => 0,
    };
    if announced > MAX_REPLY_BYTES {
        return Err(format!("the runner announced {announced} output bytes"));
    }
    let mut payload = vec![0u8; announced];
    reader
        .read_exact(&mut payload)
        .map_err(|e| format!("reading {announced} output bytes: {e}"))?;
    Ok(Received {
        fields,
        payload,
        at: Instant::now(),
    })
}
