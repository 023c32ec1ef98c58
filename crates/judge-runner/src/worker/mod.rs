//! The Python bridge (ARCHITECTURE §4): one worker process per graded submission, started in
//! the sandbox, driven with JSON lines on private pipes (fd 3 requests, fd 4 responses) that
//! the submission's prints cannot reach. The worker script itself is `worker.py`, embedded.
//!
//! The worker runs inside the submission's interpreter, so whatever it reports could be forged
//! by the submission. What decides verdicts is therefore measured here, on the judge's side of
//! the pipes: the round trip on the judge's clock, the resident memory from `/proc`, the calls
//! on remote fixtures (objects served by the judge). Every request carries a sequence number
//! that its response must echo; a line that answers nothing, answers the wrong request, cannot
//! be read or is too long is [`CallError::Tampered`]: the submission's ERROR.

mod calls;
mod channel;
mod entry;
mod outcome;
mod protocol;
mod remote;
mod resident;
mod tally;
mod wire;

use std::collections::HashMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::error::RunnerError;
use crate::limits::Limits;
use crate::output::CapturedOutput;
use crate::python_env::PythonEnv;
use crate::sandbox::{Sandbox, SandboxedProcess, describe_exit};
pub use calls::Target;
use channel::{Response, spawn_request_writer, spawn_response_reader};
pub use entry::{EntryInfo, EntryRequest};
pub use outcome::{CallError, CallOutcome};
use remote::Remote;
pub use remote::RemoteObject;
use resident::ResidentMemory;
pub use tally::CallTally;

/// The worker script, run by the sandboxed interpreter.
const WORKER_SOURCE: &str = include_str!("worker.py");

/// How long the worker may take to answer [`Worker::check_channel`]: its loop answers at once.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the worker may take to start (interpreter, numpy, fixture modules).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How to start a worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// The limits of the worker's sandbox (per call and in all).
    pub limits: Limits,

    /// Grader fixture modules: (module name, Python source). They are loaded before the
    /// submission, from a folder the sandbox can read but not change.
    pub fixtures: Vec<(String, String)>,
}

/// One Python worker process per graded submission, in the sandbox.
///
/// After a timeout or the worker's death the sandbox is gone, and every later call returns
/// [`CallError::Stopped`] at once (the grader marks the remaining criteria ERROR).
pub struct Worker {
    // Field order is drop order: the process (and its whole tree) dies before the scratch
    // folders are removed.
    process: SandboxedProcess,
    requests: Sender<Vec<u8>>,
    responses: Receiver<Response>,
    sandbox: Sandbox,
    limits: Limits,
    stopped: Option<String>,
    /// What showed the channel was tampered with, once it was.
    tampering: Option<String>,
    blocked: Vec<String>,
    next_file: u64,
    python_version: String,
    /// Sequence number of the last request sent.
    seq: u64,
    remotes: HashMap<u64, Remote>,
    /// The worker's own process, found once it is ready (before, `unshare` may not have forked
    /// it yet).
    resident: Option<ResidentMemory>,
    /// The worker's resident size when it became ready.
    ready_resident: Option<u64>,
    /// What importing the submission added to the worker's resident size.
    import_resident: Option<u64>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("work_dir", &self.sandbox.work_dir())
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Copies the submission into a fresh sandbox and starts the worker there.
    pub fn start(
        env: &PythonEnv,
        submission_dir: &Path,
        opts: WorkerOptions,
    ) -> Result<Worker, RunnerError> {
        let sandbox = Sandbox::new(Some(submission_dir))?;
        let root = sandbox.root_dir();
        let script = root.join("worker.py");
        fs::write(&script, WORKER_SOURCE).map_err(RunnerError::io("writing the worker script"))?;
        let fixtures = root.join("fixtures");
        fs::create_dir(&fixtures).map_err(RunnerError::io("creating the fixtures folder"))?;
        fs::set_permissions(&fixtures, fs::Permissions::from_mode(0o755))
            .map_err(RunnerError::io("opening the fixtures folder"))?;
        for (module, source) in &opts.fixtures {
            let plain = !module.is_empty()
                && module
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !module.starts_with(|c: char| c.is_ascii_digit());
            if !plain {
                return Err(RunnerError::WorkerStart(format!(
                    "fixture module name {module:?} is not an identifier"
                )));
            }
            fs::write(fixtures.join(format!("{module}.py")), source)
                .map_err(RunnerError::io(format!("writing fixture module {module}")))?;
        }

        let (request_reader, request_writer) =
            std::io::pipe().map_err(RunnerError::io("creating the request pipe"))?;
        let (response_reader, response_writer) =
            std::io::pipe().map_err(RunnerError::io("creating the response pipe"))?;
        let process = env
            .sandboxed(&sandbox)
            .arg(&script)
            .arg(&fixtures)
            .arg(sandbox.inbox())
            .arg(sandbox.outbox())
            .limits(opts.limits.clone())
            .protocol_fds(
                OwnedFd::from(request_reader),
                OwnedFd::from(response_writer),
            )
            .spawn()?;

        let requests = spawn_request_writer(request_writer);
        let responses = spawn_response_reader(response_reader);
        let mut worker = Worker {
            process,
            requests,
            responses,
            sandbox,
            limits: opts.limits,
            stopped: None,
            tampering: None,
            blocked: Vec::new(),
            next_file: 0,
            python_version: String::new(),
            seq: 0,
            remotes: HashMap::new(),
            resident: None,
            ready_resident: None,
            import_resident: None,
        };
        worker.await_ready()?;
        Ok(worker)
    }

    fn await_ready(&mut self) -> Result<(), RunnerError> {
        let wait = STARTUP_TIMEOUT.min(self.limits.total_timeout);
        let failure = match self.responses.recv_timeout(wait) {
            Ok(Ok(message)) => {
                if let Some(ready) = message.get("ready") {
                    self.python_version = ready["python"].as_str().unwrap_or("").to_string();
                    let resident = ResidentMemory::of(self.process.program_pid());
                    self.ready_resident = resident.current();
                    self.resident = Some(resident);
                    return Ok(());
                }
                match message.get("fatal").and_then(Json::as_str) {
                    Some(fatal) => fatal.to_string(),
                    None => format!("unexpected first message {message}"),
                }
            }
            Ok(Err(protocol)) => protocol,
            Err(RecvTimeoutError::Timeout) => {
                format!("no ready message within {:.0} s", wait.as_secs_f64())
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self
                    .process
                    .wait_until(Instant::now() + Duration::from_secs(2));
                self.process.wait_output_closed(Duration::from_secs(1));
                let status = status.map_or_else(|| "still running".to_string(), describe_exit);
                format!(
                    "it exited ({status}): {}",
                    self.process.stderr().last_lines(5)
                )
            }
        };
        self.process.kill();
        Err(RunnerError::WorkerStart(failure))
    }

    /// One empty round trip: `Ok` only if the channel carries nothing but its answer. Run at the
    /// end of a session, it catches a forged line sent during the last call (the real answer
    /// is then still queued).
    pub fn check_channel(&mut self) -> Result<(), CallError> {
        let timeout = self.limits.call_timeout.min(SYNC_TIMEOUT);
        self.request(json!({"op": "sync"}), timeout).map(|_| ())
    }

    /// Modules the submission tried to import from the blocked frameworks
    /// (torch, jax, tensorflow, autograd), in order, each once.
    pub fn blocked_imports(&self) -> &[String] {
        &self.blocked
    }

    /// What the submission printed to stdout so far (the last bytes, and a count of all).
    pub fn stdout_tail(&self) -> CapturedOutput {
        self.process.stdout()
    }

    /// What the submission (and Python) printed to stderr so far.
    pub fn stderr_tail(&self) -> CapturedOutput {
        self.process.stderr()
    }

    /// Why the worker no longer runs, if it does not.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// What showed that the worker channel was tampered with, if anything did: every result
    /// this worker returned is suspect then.
    pub fn tampering(&self) -> Option<&str> {
        self.tampering.as_deref()
    }

    /// The sandboxed interpreter's version, as the worker reported it.
    pub fn python_version(&self) -> &str {
        &self.python_version
    }

    /// The sandbox's folders (its work folder holds the copy of the submission).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Ends the worker and its whole process tree now.
    pub fn kill(&mut self) {
        self.stop("the worker was stopped by the judge".into());
    }

    pub(super) fn stop(&mut self, reason: String) {
        self.process.kill();
        self.stopped.get_or_insert(reason);
    }

    /// Stops the worker for tampering with its channel; the error to return.
    pub(super) fn tampered(&mut self, what: String) -> CallError {
        self.tampering.get_or_insert_with(|| what.clone());
        let error = CallError::Tampered(what);
        self.stop(error.to_string());
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_can_move_to_a_grading_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Worker>();
    }
}
