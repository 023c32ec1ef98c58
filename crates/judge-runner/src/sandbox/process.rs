//! A running sandboxed process: waiting with a deadline, killing the whole tree, exit reasons.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process, kill_process_group};

use super::budget::Budget;
use crate::output::{CapturedOutput, StreamCapture};

/// A process started by [`SandboxCommand::spawn`](super::SandboxCommand::spawn). Dropping it
/// kills the whole sandboxed tree.
#[derive(Debug)]
pub struct SandboxedProcess {
    child: Child,
    stdout: StreamCapture,
    stderr: StreamCapture,
    started: Instant,
    deadline: Instant,
    sandbox_uid: Option<u32>,
    exit: Option<ExitStatus>,
    /// The sandbox's cgroups, removed once it has been reaped (after the fields above).
    budget: Option<Budget>,
}

impl SandboxedProcess {
    pub(crate) fn new(
        child: Child,
        stdout: StreamCapture,
        stderr: StreamCapture,
        total_timeout: Duration,
        sandbox_uid: Option<u32>,
        budget: Option<Budget>,
    ) -> SandboxedProcess {
        let started = Instant::now();
        SandboxedProcess {
            child,
            stdout,
            stderr,
            started,
            deadline: started + total_timeout,
            sandbox_uid,
            exit: None,
            budget,
        }
    }

    /// Whether the kernel killed one of the sandbox's processes because the sandbox as a whole
    /// reached its memory budget (false where there is no budget, see
    /// [`SandboxCapabilities::cgroup_budgets`](super::SandboxCapabilities::cgroup_budgets)).
    pub fn memory_budget_exhausted(&self) -> bool {
        self.budget.as_ref().is_some_and(Budget::memory_exhausted)
    }

    /// When the sandbox's total time runs out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The host pid of the program itself, for measurements the judge reads from `/proc`: PID 1
    /// of the sandbox's PID namespace (`unshare`'s only child), or the child where no PID
    /// namespace was made.
    pub fn program_pid(&self) -> u32 {
        let pid = self.child.id();
        only_child(pid)
            .filter(|&init| pid_namespace(init) != pid_namespace(std::process::id()))
            .unwrap_or(pid)
    }

    /// Time since the process was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The exit status if the process has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() && self.has_exited() {
            self.finish();
        }
        self.exit
    }

    /// True once the child has ended, without reaping it: while it is an unreaped zombie its
    /// pid, which is also the sandbox's process-group id, cannot be handed to a new process,
    /// so signalling that group still reaches only the sandbox.
    fn has_exited(&self) -> bool {
        // SAFETY: waitid fills the zeroed siginfo; WNOWAIT leaves the child reapable.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let found = libc::waitid(
                libc::P_PID,
                self.child.id() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            found == 0 && info.si_pid() != 0
        }
    }

    /// Waits for the process to end, until `deadline` at the latest.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Kills every process of the sandbox and reaps the child; returns how it ended.
    ///
    /// Killing the process group alone lets a `setsid` escapee survive. The child is
    /// `unshare`, whose only child is PID 1 of the sandbox's PID namespace: when PID 1 dies
    /// the kernel kills everything in the namespace. Under an own uid, a sweep of that uid's
    /// processes catches anything left where no PID namespace could be made.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let pid = self.child.id();
        if let Some(init) = only_child(pid) {
            signal_kill(init);
        }
        signal_kill(pid);
        self.finish()
    }

    /// Kills what is left of the sandbox, then reaps the child (in that order: see
    /// [`Self::has_exited`]).
    fn finish(&mut self) -> ExitStatus {
        if let Some(pgid) = Pid::from_raw(self.child.id() as i32) {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        if let Some(uid) = self.sandbox_uid {
            kill_processes_of_uid(uid);
        }
        let status = self
            .child
            .wait()
            .unwrap_or_else(|_| ExitStatus::from_raw(libc::SIGKILL));
        self.exit = Some(status);
        status
    }

    /// Waits (at most `timeout`) until stdout and stderr are closed by every process that
    /// held them, so the captured tails are complete.
    pub fn wait_output_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.stdout.wait_finished(timeout)
            && self
                .stderr
                .wait_finished(deadline.saturating_duration_since(Instant::now()))
    }

    /// What the process wrote to stdout so far (the last bytes, and a count of all).
    pub fn stdout(&self) -> CapturedOutput {
        self.stdout.snapshot()
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> CapturedOutput {
        self.stderr.snapshot()
    }
}

impl Drop for SandboxedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// "exit code 3", "killed by signal 11 (SIGSEGV)".
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGBUS => " (SIGBUS)",
                libc::SIGFPE => " (SIGFPE)",
                libc::SIGILL => " (SIGILL)",
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGTERM => " (SIGTERM)",
                libc::SIGXFSZ => " (SIGXFSZ: file size limit)",
                libc::SIGXCPU => " (SIGXCPU)",
                _ => "",
            };
            format!("killed by signal {signal}{name}")
        }
        None => format!("ended with status {status}"),
    }
}

fn signal_kill(pid: u32) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = kill_process(pid, Signal::KILL);
    }
}

/// The single child of `pid` (unshare's forked PID 1), if it has one.
fn only_child(pid: u32) -> Option<u32> {
    let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

fn pid_namespace(pid: u32) -> Option<std::path::PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// SIGKILLs every process whose real uid is `uid`, until none is left (a fork loop may
/// create new ones between a scan and its kills; bounded passes).
fn kill_processes_of_uid(uid: u32) {
    for _ in 0..50 {
        let victims: Vec<u32> = processes_of_uid(uid);
        if victims.is_empty() {
            return;
        }
        for pid in victims {
            signal_kill(pid);
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn processes_of_uid(uid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
                let field = |name: &str| {
                    status
                        .lines()
                        .find_map(|line| line.strip_prefix(name))
                        .and_then(|value| value.split_whitespace().next())
                };
                // Zombies are dead already; they wait for a reaper, not for a signal.
                let alive = !matches!(field("State:"), Some("Z" | "X"));
                alive && field("Uid:").and_then(|id| id.parse::<u32>().ok()) == Some(uid)
            })
        })
        .collect()
}
