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

mod resident;
mod wire;

use std::collections::HashMap;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::error::RunnerError;
use crate::limits::Limits;
use crate::output::CapturedOutput;
use crate::python_env::PythonEnv;
use crate::sandbox::{Sandbox, SandboxedProcess, describe_exit};
use crate::value::{ObjHandle, Value};
use resident::ResidentMemory;

/// The worker script, run by the sandboxed interpreter.
const WORKER_SOURCE: &str = include_str!("worker.py");

/// Longest response line accepted; a longer one means the channel was tampered with. Arrays
/// travel as files, so real responses are small.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

/// Response lines queued between the reader thread and the judge: a submission flooding the
/// channel blocks itself, not the judge's memory.
const RESPONSE_QUEUE: usize = 64;

/// How long the worker may take to answer [`Worker::check_channel`]: its loop answers at once.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the worker may take to start (interpreter, numpy, fixture modules).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How to start a worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    pub limits: Limits,
    /// Grader fixture modules: (module name, Python source). They are loaded before the
    /// submission, from a folder the sandbox can read but not change.
    pub fixtures: Vec<(String, String)>,
}

/// What to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A function (or class) of the submission's module.
    Function(String),
    /// A method of an object held by the worker (a fixture, or an object the submission
    /// returned). Calls the judge makes on a fixture are not counted as the submission's.
    Method(ObjHandle, String),
}

/// The file entry discovery chose, and what it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The chosen file, relative to the submission folder (name it in the report).
    pub file: PathBuf,
    /// The module name it was imported under.
    pub module: String,
    /// Contract names the module defines, in the order asked.
    pub defined: Vec<String>,
    /// Contract names it lacks.
    pub missing: Vec<String>,
    /// Parameter names of each defined callable (`self` excluded for classes).
    pub parameters: Vec<(String, Vec<String>)>,
    /// Every file that binds at least one contract name, best first.
    pub candidates: Vec<PathBuf>,
}

impl EntryInfo {
    /// The parameter names of `name`, if the module defines it.
    pub fn parameters_of(&self, name: &str) -> Option<&[String]> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, params)| params.as_slice())
    }
}

/// A call that returned.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    pub value: Value,
    /// Wall seconds of the call itself, measured in the worker (`perf_counter` captured
    /// before the submission loaded).
    pub seconds: f64,
    /// Wall seconds of the whole round trip, measured by the judge (argument and result
    /// transfer included): an upper bound the submission cannot shrink.
    pub round_trip_seconds: f64,
    /// tracemalloc's peak during the call (tracing runs only around the call). `None` when the
    /// submission stopped tracing itself, so no peak can be trusted.
    pub peak_bytes: Option<u64>,
    /// Calls the submission made on grader fixtures during this call, as the worker counted
    /// them (in the submission's process: a figure it can forge).
    pub fixture_calls: u64,
    /// Calls the submission made on remote fixtures during this call, counted by the judge.
    pub remote_calls: u64,
    /// The worker's resident peak during the call above its size when the request was sent,
    /// plus what importing the submission added to it, beyond the argument and result arrays:
    /// the call's working memory, a buffer made at import included. Read by the judge from
    /// `/proc`; `None` when it could not be. (Memory kept from earlier calls is not charged:
    /// the worker keeps returned objects for the judge, which would be charged too.)
    pub resident_extra_bytes: Option<u64>,
}

/// Why a call produced no value. `Display` is a one-line piece of evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The submission raised.
    #[error("{}", exception_line(type_name, message, traceback_tail))]
    Exception {
        type_name: String,
        message: String,
        /// The last lines of the traceback.
        traceback_tail: String,
    },
    /// The call ran past its time; the whole sandbox was killed.
    #[error("timed out after {seconds:.1} s ({}); the sandbox was killed", if *total { "total time limit" } else { "per-call limit" })]
    Timeout { seconds: f64, total: bool },
    /// An allocation failed under the address-space limit (Python's `MemoryError`).
    #[error("memory limit of {} exceeded: {detail}", format_bytes(*limit_bytes))]
    MemoryLimit { limit_bytes: u64, detail: String },
    /// The worker process ended (crash, `os._exit`, killed).
    #[error("the worker died ({status}){}", last_line_suffix(stderr_tail))]
    WorkerDied { status: String, stderr_tail: String },
    /// The submission lacks what was asked for (module, function, method).
    #[error("missing {name}: {detail}")]
    Missing { name: String, detail: String },
    /// The call imported a blocked framework.
    #[error("import of {module} is not allowed (numpy only)")]
    Blocked { module: String },
    /// An earlier failure (timeout, death) stopped the worker; nothing runs any more.
    #[error("not run: {reason}")]
    Stopped { reason: String },
    /// The worker reported that the judge's request made no sense (a judge bug).
    #[error("bridge protocol error: {0}")]
    Protocol(String),
    /// Traffic on the worker channel that the worker does not send: garbage, a line answering
    /// no request or the wrong one, an over-long line, a result that cannot be decoded.
    /// Only code in the worker's process can write there, so it is the submission's doing.
    #[error("the worker channel was tampered with: {0}")]
    Tampered(String),
}

impl CallError {
    /// True for failures that may be the judge's own fault rather than the submission's.
    pub fn is_harness_fault(&self) -> bool {
        matches!(self, CallError::Protocol(_))
    }
}

/// An object the judge serves to the submission (a remote fixture): the submission sees a
/// proxy, and each method call it makes is run here, in the judge, and counted here.
pub trait RemoteObject: Send {
    /// Runs `method`; an `Err` is raised in the submission as `ValueError(message)`.
    fn call(
        &mut self,
        method: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Value, String>;
}

/// A remote fixture and the calls made on it so far.
struct Remote {
    object: Box<dyn RemoteObject>,
    calls: u64,
}

fn exception_line(type_name: &str, message: &str, traceback: &str) -> String {
    let first_line = message.lines().next().unwrap_or("");
    let short: String = first_line.chars().take(240).collect();
    // The innermost frame: `  File "solution.py", line 12, in add`.
    let location = traceback
        .lines()
        .rev()
        .find_map(|line| line.trim_start().strip_prefix("File \""))
        .and_then(|rest| {
            let (file, rest) = rest.split_once('"')?;
            let line_no = rest.trim_start_matches(", line ").split(',').next()?;
            let file = Path::new(file).file_name()?.to_string_lossy().into_owned();
            Some(format!(" (at {file}:{line_no})"))
        })
        .unwrap_or_default();
    format!("{type_name}: {short}{location}")
}

fn last_line_suffix(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.chars().take(240).collect::<String>()))
        .unwrap_or_default()
}

fn format_bytes(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// One response line, or why none could be read.
type Response = Result<Json, String>;

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

    /// Entry discovery (ARCHITECTURE §4): imports the `.py` file that defines
    /// `contract_names` (most names defined first, then the file named after `challenge_id`,
    /// then non-test files, then the shallowest). Files are parsed to find it; only the chosen
    /// one is imported. A syntax error anywhere is reported when no file defines the names.
    pub fn load_entry(
        &mut self,
        contract_names: &[&str],
        challenge_id: &str,
    ) -> Result<EntryInfo, CallError> {
        let timeout = self.limits.call_timeout;
        let (ok, _) = self.request(
            json!({"op": "load", "names": contract_names, "prefer": challenge_id}),
            timeout,
        )?;
        self.import_resident = self
            .resident
            .and_then(|r| r.current())
            .zip(self.ready_resident)
            .map(|(loaded, ready)| loaded.saturating_sub(ready));
        let strings = |v: &Json| -> Vec<String> {
            v.as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let parameters = ok["parameters"]
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|pair| Some((pair[0].as_str()?.to_string(), strings(&pair[1]))))
                    .collect()
            })
            .unwrap_or_default();
        Ok(EntryInfo {
            file: PathBuf::from(ok["file"].as_str().unwrap_or("")),
            module: ok["module"].as_str().unwrap_or("").to_string(),
            defined: strings(&ok["defined"]),
            missing: strings(&ok["missing"]),
            parameters,
            candidates: strings(&ok["candidates"])
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        })
    }

    /// Calls a function of the submission (or a method of a held object) with positional and
    /// keyword arguments, within `timeout` (and the sandbox's total time).
    pub fn call(
        &mut self,
        target: Target,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
        timeout: Duration,
    ) -> Result<CallOutcome, CallError> {
        let target = match target {
            Target::Function(name) => json!({"function": name}),
            Target::Method(handle, name) => json!({"method": [handle.0, name]}),
        };
        let argument_bytes: u64 = args
            .iter()
            .chain(kwargs.iter().map(|(_, v)| v))
            .map(array_bytes)
            .sum();
        let (args, kwargs) = self.encode_arguments(&args, &kwargs)?;
        let remote_calls_before = self.total_remote_calls();
        let resident_before = self.resident.and_then(|r| r.start_peak());
        let started = Instant::now();
        let (mut ok, received) = self.request(
            json!({"op": "call", "target": target, "args": args, "kwargs": kwargs}),
            timeout,
        )?;
        let round_trip_seconds = received.duration_since(started).as_secs_f64();
        let resident_peak = self.resident.and_then(|r| r.peak());
        let value = wire::decode(ok["value"].take(), self.sandbox.outbox())
            .map_err(|e| self.tampered(format!("undecodable result: {e}")))?;
        Ok(CallOutcome {
            seconds: ok["seconds"].as_f64().unwrap_or(f64::NAN),
            round_trip_seconds,
            peak_bytes: ok["peak_bytes"].as_u64(),
            fixture_calls: ok["fixture_calls"].as_u64().unwrap_or(0),
            remote_calls: self.total_remote_calls() - remote_calls_before,
            resident_extra_bytes: resident_before
                .zip(self.import_resident)
                .zip(resident_peak)
                .map(|((before, import), peak)| {
                    (peak.saturating_sub(before) + import)
                        .saturating_sub(argument_bytes + array_bytes(&value))
                }),
            value,
        })
    }

    /// Calls a function of the submission with positional arguments, within the per-call limit.
    pub fn call_function(
        &mut self,
        name: &str,
        args: Vec<Value>,
    ) -> Result<CallOutcome, CallError> {
        let timeout = self.limits.call_timeout;
        self.call(
            Target::Function(name.to_string()),
            args,
            Vec::new(),
            timeout,
        )
    }

    /// Constructs `class` of the grader fixture module `module`; the handle can be passed to
    /// the submission as [`Value::Obj`]. Calls the submission makes on it are counted.
    pub fn new_fixture(
        &mut self,
        module: &str,
        class: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<ObjHandle, CallError> {
        let (args, kwargs) = self.encode_arguments(&args, &kwargs)?;
        let timeout = self.limits.call_timeout;
        let (ok, _) = self.request(
            json!({"op": "new_fixture", "module": module, "class": class, "args": args, "kwargs": kwargs}),
            timeout,
        )?;
        ok["obj"]
            .as_u64()
            .map(ObjHandle)
            .ok_or_else(|| CallError::Protocol(format!("no handle in {ok}")))
    }

    /// Serves `object` to the submission as a remote fixture with the plain attributes `attrs`
    /// (copies: changing them changes nothing here); the handle can be passed as
    /// [`Value::Obj`]. Its calls run in the judge and are counted in
    /// [`CallOutcome::remote_calls`] and [`Self::remote_calls`].
    pub fn new_remote(
        &mut self,
        object: Box<dyn RemoteObject>,
        attrs: Vec<(String, Value)>,
    ) -> Result<ObjHandle, CallError> {
        let (mut attrs, _) = self.encode_arguments(&[Value::Dict(attrs)], &[])?;
        let attrs = attrs[0]["dict"].take();
        let timeout = self.limits.call_timeout;
        let (ok, _) = self.request(json!({"op": "new_remote", "attrs": attrs}), timeout)?;
        let handle = ok["obj"]
            .as_u64()
            .ok_or_else(|| self.tampered(format!("no handle in {ok}")))?;
        self.remotes.insert(handle, Remote { object, calls: 0 });
        Ok(ObjHandle(handle))
    }

    /// How many calls the submission has made on the remote fixture `obj` so far.
    pub fn remote_calls(&self, obj: ObjHandle) -> u64 {
        self.remotes.get(&obj.0).map_or(0, |remote| remote.calls)
    }

    fn total_remote_calls(&self) -> u64 {
        self.remotes.values().map(|remote| remote.calls).sum()
    }

    /// One empty round trip: `Ok` only if the channel carries nothing but its answer. Run at the
    /// end of a session, it catches a forged line sent during the last call (the real answer
    /// is then still queued).
    pub fn check_channel(&mut self) -> Result<(), CallError> {
        let timeout = self.limits.call_timeout.min(SYNC_TIMEOUT);
        self.request(json!({"op": "sync"}), timeout).map(|_| ())
    }

    /// How many calls the submission has made on a fixture so far.
    pub fn fixture_calls(&mut self, obj: ObjHandle) -> Result<u64, CallError> {
        let timeout = self.limits.call_timeout;
        let (ok, _) = self.request(json!({"op": "fixture_calls", "obj": obj.0}), timeout)?;
        ok.as_u64()
            .ok_or_else(|| CallError::Protocol(format!("not a count: {ok}")))
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

    fn stop(&mut self, reason: String) {
        self.process.kill();
        self.stopped.get_or_insert(reason);
    }

    /// Stops the worker for tampering with its channel; the error to return.
    fn tampered(&mut self, what: String) -> CallError {
        self.tampering.get_or_insert_with(|| what.clone());
        let error = CallError::Tampered(what);
        self.stop(error.to_string());
        error
    }

    fn encode_arguments(
        &mut self,
        args: &[Value],
        kwargs: &[(String, Value)],
    ) -> Result<(Json, Json), CallError> {
        let inbox = self.sandbox.inbox().to_path_buf();
        let mut written = Vec::new();
        let mut encode = |v: &Value| wire::encode(v, &inbox, &mut self.next_file, &mut written);
        let args: Result<Vec<Json>, String> = args.iter().map(&mut encode).collect();
        let kwargs: Result<Vec<Json>, String> = kwargs
            .iter()
            .map(|(k, v)| Ok(json!([k, encode(v)?])))
            .collect();
        // Argument files live until the worker has answered: the inbox is emptied after every
        // response, so files of a failed encoding go with the next one.
        match (args, kwargs) {
            (Ok(args), Ok(kwargs)) => Ok((Json::Array(args), Json::Array(kwargs))),
            (Err(e), _) | (_, Err(e)) => Err(CallError::Protocol(e)),
        }
    }

    /// Sends one request and waits for its response, at most `timeout` and never past the
    /// sandbox's total deadline, serving the remote-fixture calls the worker makes meanwhile.
    /// Returns the `ok` part and when the response arrived.
    fn request(
        &mut self,
        mut message: Json,
        timeout: Duration,
    ) -> Result<(Json, Instant), CallError> {
        if let Some(reason) = &self.stopped {
            return Err(CallError::Stopped {
                reason: reason.clone(),
            });
        }
        // Nothing may be waiting: a line now answers no request (the real answer to an earlier
        // request that a forged line had taken the place of, or garbage).
        match self.responses.try_recv() {
            Ok(line) => {
                return Err(self.tampered(format!(
                    "a line arrived while no request was pending: {}",
                    describe_line(&line)
                )));
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
        }
        self.seq += 1;
        message["seq"] = json!(self.seq);
        let started = Instant::now();
        let call_deadline = started + timeout;
        let total_deadline = self.process.deadline();
        let deadline = call_deadline.min(total_deadline);
        let outcome = self.exchange(message, started, deadline, total_deadline < call_deadline);
        // Argument (and callback reply) files live until the worker has answered.
        self.empty_inbox();
        outcome
    }

    /// Writes one line and reads until the response to it, answering callbacks.
    fn exchange(
        &mut self,
        message: Json,
        started: Instant,
        deadline: Instant,
        total: bool,
    ) -> Result<(Json, Instant), CallError> {
        let mut line =
            serde_json::to_vec(&message).map_err(|e| CallError::Protocol(e.to_string()))?;
        loop {
            line.push(b'\n');
            if self.requests.send(line).is_err() {
                return Err(self.died());
            }
            let response = match self
                .responses
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Ok(response)) => response,
                Ok(Err(unreadable)) => return Err(self.tampered(unreadable)),
                Err(RecvTimeoutError::Timeout) => {
                    let seconds = started.elapsed().as_secs_f64();
                    let error = CallError::Timeout { seconds, total };
                    self.stop(error.to_string());
                    return Err(error);
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.died()),
            };
            if response["seq"].as_u64() != Some(self.seq) {
                return Err(self.tampered(format!(
                    "a response for request {} arrived while request {} was pending",
                    response["seq"], self.seq
                )));
            }
            let Some(callback) = response.get("callback") else {
                return self.interpret(response).map(|ok| (ok, Instant::now()));
            };
            let reply = self.serve_callback(callback)?;
            line = serde_json::to_vec(&reply).map_err(|e| CallError::Protocol(e.to_string()))?;
        }
    }

    /// Runs one remote-fixture call the worker asked for; the reply line to send.
    fn serve_callback(&mut self, callback: &Json) -> Result<Json, CallError> {
        let handle = callback["obj"].as_u64().unwrap_or(0);
        let method = callback["method"].as_str().unwrap_or("").to_string();
        let (args, kwargs) = match decode_callback_arguments(callback, self.sandbox.outbox()) {
            Ok(arguments) => arguments,
            Err(e) => return Err(self.tampered(format!("undecodable remote call: {e}"))),
        };
        let Some(remote) = self.remotes.get_mut(&handle) else {
            return Err(self.tampered(format!("a call on unknown remote object {handle}")));
        };
        remote.calls += 1;
        let result = remote.object.call(&method, args, kwargs);
        Ok(match result {
            Ok(value) => {
                let (encoded, _) = self.encode_arguments(&[value], &[])?;
                json!({"op": "reply", "seq": self.seq, "value": encoded[0]})
            }
            Err(message) => json!({"op": "reply", "seq": self.seq, "error": message}),
        })
    }

    fn empty_inbox(&self) {
        if let Ok(entries) = fs::read_dir(self.sandbox.inbox()) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// The response channel closed: the worker is dead or dying. Reaps it, kills what is left
    /// of the sandbox, and reports how it ended with the end of its stderr.
    fn died(&mut self) -> CallError {
        let exited = self
            .process
            .wait_until(Instant::now() + Duration::from_secs(2));
        let status = self.process.kill();
        self.process.wait_output_closed(Duration::from_secs(1));
        let status = match exited {
            Some(_) => describe_exit(status),
            None => "closed its protocol channel and was killed".to_string(),
        };
        self.stopped
            .get_or_insert(format!("the worker died earlier ({status})"));
        CallError::WorkerDied {
            status,
            stderr_tail: self.process.stderr().last_lines(20),
        }
    }

    fn interpret(&mut self, mut response: Json) -> Result<Json, CallError> {
        if let Some(blocked) = response["blocked"].as_array() {
            for module in blocked.iter().filter_map(Json::as_str) {
                if !self.blocked.iter().any(|b| b == module) {
                    self.blocked.push(module.to_string());
                }
            }
        }
        if let Some(ok) = response.get_mut("ok") {
            return Ok(ok.take());
        }
        if !response["error"].is_object() {
            return Err(self.tampered(format!(
                "a response with neither result nor error: {}",
                describe_json(&response)
            )));
        }
        let error = &response["error"];
        let text = |key: &str| error[key].as_str().unwrap_or("").to_string();
        Err(match error["kind"].as_str() {
            Some("exception") => CallError::Exception {
                type_name: text("type"),
                message: text("message"),
                traceback_tail: text("traceback"),
            },
            Some("memory") => CallError::MemoryLimit {
                limit_bytes: self.limits.memory_bytes,
                detail: format!("{}: {}", text("type"), text("message")),
            },
            Some("missing") => CallError::Missing {
                name: text("name"),
                detail: text("detail"),
            },
            Some("blocked") => CallError::Blocked {
                module: text("module"),
            },
            Some("protocol") => CallError::Protocol(text("message")),
            _ => {
                return Err(self.tampered(format!(
                    "an error of unknown kind: {}",
                    describe_json(&response)
                )));
            }
        })
    }
}

/// Writes request lines to the worker from a thread of its own: a worker that stopped
/// reading can block this thread, never the judge (the response timeout still fires).
fn spawn_request_writer(mut pipe: std::io::PipeWriter) -> Sender<Vec<u8>> {
    let (sender, receiver) = mpsc::channel::<Vec<u8>>();
    thread::spawn(move || {
        for line in receiver {
            if pipe.write_all(&line).is_err() {
                break;
            }
        }
    });
    sender
}

/// Positional and keyword arguments of a call.
type Arguments = (Vec<Value>, Vec<(String, Value)>);

/// The arguments of a remote-fixture call, their arrays read from `outbox`.
fn decode_callback_arguments(callback: &Json, outbox: &Path) -> Result<Arguments, String> {
    let items = |key: &str| callback[key].as_array().cloned().unwrap_or_default();
    let args = items("args")
        .into_iter()
        .map(|v| wire::decode(v, outbox))
        .collect::<Result<_, _>>()?;
    let kwargs = items("kwargs")
        .into_iter()
        .map(|mut pair| {
            let key = pair[0].as_str().ok_or("a keyword that is not a string")?;
            Ok((key.to_string(), wire::decode(pair[1].take(), outbox)?))
        })
        .collect::<Result<_, String>>()?;
    Ok((args, kwargs))
}

/// Bytes of the arrays in `value`, however deeply nested.
fn array_bytes(value: &Value) -> u64 {
    match value {
        Value::Array(array) => array.nbytes(),
        Value::List(items) | Value::Tuple(items) => items.iter().map(array_bytes).sum(),
        Value::Dict(items) => items.iter().map(|(_, v)| array_bytes(v)).sum(),
        _ => 0,
    }
}

/// One received line for evidence: its first 200 characters.
fn describe_line(line: &Response) -> String {
    match line {
        Ok(json) => describe_json(json),
        Err(unreadable) => unreadable.clone(),
    }
}

fn describe_json(json: &Json) -> String {
    let text = json.to_string();
    let short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// Reads response lines (each at most [`MAX_RESPONSE_BYTES`]) until the worker closes fd 4.
fn spawn_response_reader(pipe: std::io::PipeReader) -> Receiver<Response> {
    let (sender, receiver): (SyncSender<Response>, _) = mpsc::sync_channel(RESPONSE_QUEUE);
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        loop {
            let mut line = Vec::new();
            match (&mut reader)
                .take(MAX_RESPONSE_BYTES)
                .read_until(b'\n', &mut line)
            {
                Ok(0) | Err(_) => break,
                Ok(n) if line.last() != Some(&b'\n') => {
                    // A line cut off by end-of-file means the worker died while writing:
                    // the closed channel says so. One past the cap is tampering.
                    if n as u64 == MAX_RESPONSE_BYTES {
                        let _ = sender.send(Err(format!(
                            "a response line longer than {} MiB",
                            MAX_RESPONSE_BYTES >> 20
                        )));
                    }
                    break;
                }
                Ok(_) => {
                    let parsed = serde_json::from_slice::<Json>(&line)
                        .map_err(|e| format!("an unreadable line ({e})"))
                        .and_then(|json| {
                            if json.is_object() {
                                Ok(json)
                            } else {
                                Err(format!(
                                    "a line that is no message: {}",
                                    describe_json(&json)
                                ))
                            }
                        });
                    if sender.send(parsed).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_can_move_to_a_grading_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Worker>();
    }

    #[test]
    fn exception_evidence_names_the_innermost_frame() {
        let traceback = "Traceback (most recent call last):\n  File \"/tmp/judge-x/work/sol.py\", line 3, in add\n    return helper(a)\n  File \"/tmp/judge-x/work/util.py\", line 9, in helper\n    raise ValueError('bad')\nValueError: bad";
        assert_eq!(
            exception_line("ValueError", "bad\nsecond line", traceback),
            "ValueError: bad (at util.py:9)"
        );
        assert_eq!(exception_line("KeyError", "'k'", ""), "KeyError: 'k'");
    }

    #[test]
    fn worker_died_shows_the_last_stderr_line() {
        let error = CallError::WorkerDied {
            status: "killed by signal 11 (SIGSEGV)".into(),
            stderr_tail: "Fatal Python error: Segmentation fault\n\n".into(),
        };
        assert_eq!(
            error.to_string(),
            "the worker died (killed by signal 11 (SIGSEGV)): Fatal Python error: Segmentation fault"
        );
    }
}
