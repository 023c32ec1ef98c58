//! [`TimingSession`]: a runner answering timing requests one at a time on private pipes, so that
//! the judge measures each request's round trip on its own clock (`crate::speed`).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use fuse::TopK;
use judge_runner::{Sandbox, SandboxedProcess};

use super::{JobError, RunnerBuild, runner_command, top_k_from_bytes};

/// A library a timing session loads, under the name its requests use.
#[derive(Debug, Clone, Copy)]
pub struct TimedLibrary<'a> {
    /// The name requests call it by (`naive`, `reference`, `submission`).
    pub name: &'a str,
    /// The `.so`, a path the sandboxed runner can load.
    pub path: &'a Path,
    /// The entry point it exports (`fused_softmax_topk`, `naive_softmax_topk`).
    pub symbol: &'a str,
}

/// What the runner said about one timed call, and how long the judge waited for it.
#[derive(Debug, Clone)]
pub struct RepReply {
    /// What the entry point returned (0 = cudaSuccess).
    pub status: i32,
    /// `cudaGetErrorName` of `status`.
    pub status_name: String,
    /// What synchronising the stream after the call reported (a fault inside the kernel).
    pub sync_status: i32,
    /// `cudaGetErrorName` of `sync_status`.
    pub sync_status_name: String,
    /// The call's time by the runner's CUDA events: a claim where the process holds a
    /// submission.
    pub claimed_ms: f64,
    /// From writing the request to having the whole reply, on the judge's clock.
    pub span_ms: f64,
    /// Runtime-API allocations the call made, by the runner's `__wrap_` counters.
    pub allocation_calls: u64,
    /// The most bytes those allocations held at once, by the same counters (a claim, like
    /// every figure from the submission's process).
    pub allocation_peak: u64,
    /// The `[rows, k]` outputs; None after a fault.
    pub outputs: Option<TopK>,
}

/// A timed copy: the runner's CUDA-event time and the judge's round trip.
#[derive(Debug, Clone, Copy)]
pub struct CopyReply {
    /// The copy's time by the runner's CUDA events.
    pub claimed_ms: f64,
    /// From writing the request to having the whole reply, on the judge's clock.
    pub span_ms: f64,
}

/// Why a timing session ended early.
#[derive(Debug, thiserror::Error)]
pub enum TimingError {
    /// The session could not be started (the job's files, the sandbox).
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
