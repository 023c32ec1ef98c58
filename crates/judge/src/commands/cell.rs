//! One submission per judge process. `judge grade` re-executes itself as the hidden
//! `judge grade-cell` for every submission (as nextest runs each test in its own process), so
//! a crash while grading one of them (an abort on a failed allocation, a panic, the OOM
//! killer) becomes that cell's ERROR with the reason, and the run goes on.
//!
//! The job travels on the child's stdin and the report comes back on its stdout: nothing of
//! the job (the seed least of all) is on a command line, which /proc shows to every process.
//! The parent writes the report, as for any other grade.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use judge_core::discover::SubmissionDir;
use judge_core::signing::ReportKey;
use judge_core::{ChallengeId, GradeContext, Report, Verdict, session};
use serde::{Deserialize, Serialize};

use super::output::prompt_sha256;
use crate::cli::GradeArgs;
use crate::registry;

/// The hidden subcommand a cell runs as.
pub const SUBCOMMAND: &str = "grade-cell";

/// Time a cell has beyond `--timeout` to turn its sandbox's own timeout into verdicts.
const REPORT_GRACE: Duration = Duration::from_secs(5);

/// Address space a cell may use beyond the submission's own `--memory-gib`: the judge's
/// references, hidden cases and decoded results. Past it an allocation fails, and the cell
/// aborts instead of the machine swapping.
const JUDGE_OWN_BYTES: u64 = 4 << 30;

/// Largest report a cell may hand back (evidence is short; a report is kilobytes).
const MAX_REPORT_BYTES: u64 = 64 << 20;

/// Largest job a cell accepts on stdin.
const MAX_JOB_BYTES: u64 = 1 << 20;

/// Bytes of a cell's stderr kept for the reason of a crash.
const STDERR_TAIL_BYTES: usize = 4096;

/// What one cell grades, and how.
#[derive(Debug, Serialize, Deserialize)]
struct CellJob {
    args: GradeArgs,
    model: Option<String>,
    challenge: ChallengeId,
    dir: PathBuf,
    seed: u64,
}

/// Grades `sub` in a child judge process and returns its report; a child that crashes or
/// outlives `--timeout` yields a report whose every criterion is ERROR with the reason. `None`
/// when the run was interrupted (Ctrl-C, SIGTERM) before the child finished: the child and its
/// sandboxes are ended, and there is no report.
pub fn grade_in_child(
    sub: &SubmissionDir,
    args: &GradeArgs,
    ctx: &GradeContext,
    key: &ReportKey,
) -> Option<Report> {
    let started = session::start_clock();
    let outcome = run_cell(sub, args, ctx);
    if crate::interrupt::requested() && outcome.is_err() {
        return None;
    }
    Some(outcome.unwrap_or_else(|verdict| {
        tracing::warn!("{}: {}", sub.label(), verdict.detail());
        let grader = registry::grader(sub.challenge).expect("graded challenges have a grader");
        let mut report = session::ungraded_submission(
            grader.as_ref(),
            sub,
            &prompt_sha256(sub.challenge),
            ctx,
            started,
            &verdict,
        );
        key.sign(&mut report);
        report
    }))
}

fn run_cell(sub: &SubmissionDir, args: &GradeArgs, ctx: &GradeContext) -> Result<Report, Verdict> {
    let harness = |what: &str, e: &dyn std::fmt::Display| {
        Verdict::harness_error(format!("{what} the judge's grading process: {e}"))
    };
    let exe = std::env::current_exe().map_err(|e| harness("cannot find", &e))?;
    let job = CellJob {
        args: args.clone(),
        model: sub.model.clone(),
        challenge: sub.challenge,
        dir: sub.dir.clone(),
        seed: ctx.seed,
    };
    let job = serde_json::to_vec(&job).expect("a job always serialises");
    // CUDA reserves far more address space than it uses: fuse's cell opens the GPU itself.
    let address_space = (sub.challenge != ChallengeId::Fuse)
        .then(|| ctx.memory_bytes.saturating_add(JUDGE_OWN_BYTES));
    let mut command = Command::new(exe);
    // Its own process group: a Ctrl-C at the terminal reaches the judge, which ends the cell
    // itself and cleans up after it.
    command
        .process_group(0)
        .arg(SUBCOMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only prctl and setrlimit, both async-signal-safe system calls.
    unsafe {
        command.pre_exec(move || confine_cell(address_space));
    }
    let mut child = command.spawn().map_err(|e| harness("cannot start", &e))?;
    let stdout = read_capped(child.stdout.take().expect("stdout is piped"));
    let stderr = forward_keeping_tail(child.stderr.take().expect("stderr is piped"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let sent = stdin.write_all(&job);
    drop(stdin);
    if let Err(e) = sent {
        let _ = child.kill();
        let _ = child.wait();
        return Err(harness("cannot hand the job to", &e));
    }

    let limit = ctx.total_timeout + REPORT_GRACE;
    let status = wait_until(&mut child, Instant::now() + limit);
    if !status.is_some_and(|status| status.success()) {
        let _ = child.kill();
        let _ = child.wait();
        judge_runner::remove_leftovers_of(child.id());
    }
    let Some(status) = status else {
        return Err(Verdict::error(format!(
            "grading did not finish within --timeout {} s (and {} s to report); the judge's \
             grading process for this submission was killed",
            ctx.total_timeout.as_secs(),
            REPORT_GRACE.as_secs()
        )));
    };
    // A descendant that kept a pipe open must not hold the run up.
    let pipes_closed = Duration::from_secs(2);
    let report = stdout.recv_timeout(pipes_closed).unwrap_or_default();
    let tail = stderr.recv_timeout(pipes_closed).unwrap_or_default();
    if status.success()
        && let Ok(report) = serde_json::from_slice::<Report>(&report)
    {
        return Ok(report);
    }
    let why = last_lines(&tail, 3);
    Err(Verdict::harness_error(format!(
        "the judge's grading process for this submission ended without a report ({}){}",
        judge_runner::describe_exit(status),
        if why.is_empty() {
            String::new()
        } else {
            format!(": {why}")
        }
    )))
}

/// Runs in the forked child before exec: it dies with the judge, and its memory is bounded.
fn confine_cell(address_space: Option<u64>) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, Signal, getrlimit, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL))?;
    if let Some(bytes) = address_space {
        // The soft limit only: a sandbox the cell starts may still be given more (CUDA
        // programs run without an address-space limit).
        let current = getrlimit(Resource::As);
        let wanted = current.maximum.map_or(bytes, |hard| hard.min(bytes));
        rustix::process::setrlimit(
            Resource::As,
            Rlimit {
                current: Some(wanted),
                maximum: current.maximum,
            },
        )?;
    }
    Ok(())
}

/// The child's exit status, or `None` at the deadline or when the run is interrupted.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let now = Instant::now();
        if now >= deadline || crate::interrupt::requested() {
            return None;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

/// Reads the cell's report, at most [`MAX_REPORT_BYTES`].
fn read_capped(stdout: ChildStdout) -> mpsc::Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.take(MAX_REPORT_BYTES).read_to_end(&mut bytes);
        let _ = send.send(bytes);
    });
    receive
}

/// Passes the cell's diagnostics on to the judge's stderr, keeping the last bytes for the
/// reason of a crash.
fn forward_keeping_tail(mut stderr: ChildStderr) -> mpsc::Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let mut tail = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let _ = std::io::stderr().write_all(&chunk[..n]);
            tail.extend_from_slice(&chunk[..n]);
            let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
            tail.drain(..excess);
        }
        let _ = send.send(tail);
    });
    receive
}

/// The last `n` non-empty lines of `bytes` before any backtrace, joined with " / ".
fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let before_backtrace = text.split("stack backtrace:").next().unwrap_or_default();
    let lines: Vec<&str> = before_backtrace
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// `judge grade-cell`: reads one job from stdin, grades it, writes the report to stdout.
pub fn serve() -> anyhow::Result<i32> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_JOB_BYTES)
        .read_to_end(&mut input)?;
    let job: CellJob = serde_json::from_slice(&input)?;
    let sub = SubmissionDir {
        model: job.model,
        challenge: job.challenge,
        dir: job.dir,
    };
    let key = super::report_key(job.args.run.key.as_deref())?;
    let mut ctx = super::grade_context(&job.args)?;
    ctx.seed = job.seed;
    #[cfg(debug_assertions)]
    test_trigger::fire(&sub.dir);
    let report = super::grade::grade_one(&sub, &job.args, &ctx, &key, &|message| {
        eprintln!("{}: {message}", sub.label())
    });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &report)?;
    stdout.flush()?;
    Ok(judge_core::exit::SUCCESS)
}

/// Debug builds only, for the tests: a submission holding a file named by
/// `JUDGE_TEST_CELL_TRIGGER` makes its cell fail the way a hostile input once made the judge
/// fail — `abort` (the file's content) by a failed allocation, `hang` by never finishing.
#[cfg(debug_assertions)]
mod test_trigger {
    use std::path::Path;

    pub fn fire(dir: &Path) {
        let Some(name) = std::env::var_os("JUDGE_TEST_CELL_TRIGGER") else {
            return;
        };
        match std::fs::read_to_string(dir.join(name))
            .as_deref()
            .map(str::trim)
        {
            Ok("abort") => {
                // 1 TiB: more than any address-space limit or machine allows.
                let huge = Vec::<u8>::with_capacity(1 << 40);
                std::hint::black_box(huge);
            }
            Ok("hang") => loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
            },
            _ => {}
        }
    }
}
