//! The parts of grading a Python submission that are the same for every challenge.
//!
//! A grader supplies its criteria and a closure that decides its own auto criteria against a
//! started [`Session`]; [`grade_python`] does everything around it: finds the interpreter,
//! starts the sandboxed worker, loads the entry module, decides the shared criteria
//! (`no_frameworks`, `self_test`, the manual items), records the environment, and fails closed
//! when anything dies half way.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use judge_core::{
    ChallengeId, Criterion, CriterionKind, CriterionResult, GradeContext, Graded, Scorecard,
    Verdict,
};
use judge_runner::{
    CallError, CallOutcome, EntryInfo, Limits, PythonEnv, RunnerError, Target, Value, Worker,
    WorkerOptions, probe_sandbox, run_script,
};

pub mod memory;
#[cfg(feature = "tiny-lm")]
pub mod tiny_lm_twin;

/// Id of the shared criterion: no torch, jax, tensorflow or autograd.
pub const NO_FRAMEWORKS: &str = "no_frameworks";
/// Id of the shared criterion: the submission's own tests or demo exit 0.
pub const SELF_TEST: &str = "self_test";

/// The shared "NumPy only" criterion every Python prompt states.
pub fn no_frameworks_criterion() -> Criterion {
    Criterion::auto(
        NO_FRAMEWORKS,
        "uses no PyTorch, JAX, TensorFlow or autograd",
    )
}

/// The shared self-test criterion: the tests the prompt asks the model to write.
pub fn self_test_criterion() -> Criterion {
    Criterion::self_test(SELF_TEST, "its own tests / demo run and exit 0")
}

/// The interpreter is found (or the managed environment made) once per judge process.
fn python_env() -> Result<&'static PythonEnv, String> {
    static ENV: OnceLock<Result<PythonEnv, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        PythonEnv::resolve(&|message| tracing::info!("python: {message}"))
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// How much slower this machine runs right now than the quiet 2-core machine the graders'
/// per-call limits were set on: a fixed CPU-bound workload is timed once per judge process.
/// Per-call limits are multiplied by it (never shortened), so a busy machine — `--jobs`, other
/// tenants — does not turn a correct submission into a timeout.
pub fn machine_slowdown() -> f64 {
    static SLOWDOWN: OnceLock<f64> = OnceLock::new();
    *SLOWDOWN.get_or_init(|| {
        /// Seconds the workload takes on the calibration machine in a release build.
        const NOMINAL_SECONDS: f64 = 0.04;
        let started = std::time::Instant::now();
        let mut acc = 0.0f64;
        for i in 0..20_000_000u32 {
            acc = acc * 0.999_999_9 + f64::from(i) * 1e-12;
        }
        std::hint::black_box(acc);
        (started.elapsed().as_secs_f64() / NOMINAL_SECONDS).clamp(1.0, 10.0)
    })
}

/// What a grader declares about its Python contract.
#[derive(Debug, Clone)]
pub struct PythonContract {
    pub challenge: ChallengeId,
    /// Names entry discovery looks for; the module defining them is loaded.
    pub names: Vec<&'static str>,
    /// Names the grader cannot work without (a subset of `names`).
    pub required: Vec<&'static str>,
    /// Grader fixture modules (name, Python source) the worker loads before the submission.
    pub fixtures: Vec<(String, String)>,
    /// Limit for one call; hidden cases are small, so this is generous.
    pub call_timeout: Duration,
    /// Which of the submission's scripts make up its self-test.
    pub self_test: SelfTestRule,
}

/// What counts as a submission's own tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfTestRule {
    /// `test_*.py` / `*_test.py` files, or else every top-level `.py` file run as a program
    /// (the prompts ask for tests inside the solution, under `if __name__ == "__main__":`).
    TestFilesOrScripts,
    /// Only test files: for challenges whose scripts do long work when run (training), so
    /// running them is no test and could take the whole time limit.
    TestFilesOnly,
}

/// A started worker with its loaded entry module.
pub struct Session {
    pub worker: Worker,
    pub entry: EntryInfo,
    call_timeout: Duration,
    env: &'static PythonEnv,
    dir: PathBuf,
    contract: PythonContract,
    limits: Limits,
    /// When the whole grading of this submission (`--timeout`) must be over.
    deadline: Instant,
}

/// What is left of the grading's time, or the verdict for a check that no longer fits.
fn time_left(deadline: Instant) -> Result<Duration, Verdict> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
        .ok_or_else(|| {
            Verdict::error("the grading time limit (--timeout) ran out before this check")
        })
}

impl Session {
    /// Calls a submission function with positional and keyword arguments, under the
    /// contract's per-call limit.
    pub fn call(
        &mut self,
        function: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<CallOutcome, CallError> {
        self.worker.call(
            Target::Function(function.to_string()),
            args,
            kwargs,
            self.call_timeout,
        )
    }

    /// Calls a method of an object the worker holds (an instance the submission returned or
    /// constructed, or a grader fixture), under the contract's per-call limit.
    pub fn call_method(
        &mut self,
        object: judge_runner::ObjHandle,
        method: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<CallOutcome, CallError> {
        self.worker.call(
            Target::Method(object, method.to_string()),
            args,
            kwargs,
            self.call_timeout,
        )
    }

    /// Whether the worker was stopped (timeout, crash): every later call would fail at once.
    pub fn is_stopped(&self) -> bool {
        self.worker.stopped().is_some()
    }

    /// A second, independent worker for the same submission whose address space is capped at
    /// `memory_bytes`: memory criteria that a submission could fake from the inside (it can
    /// stop or patch tracemalloc) are enforced by the kernel instead.
    pub fn spawn_with_memory_limit(&self, memory_bytes: u64) -> Result<Session, Verdict> {
        let limits = Limits {
            memory_bytes,
            total_timeout: time_left(self.deadline)?,
            ..self.limits.clone()
        };
        let options = WorkerOptions {
            limits: limits.clone(),
            fixtures: self.contract.fixtures.clone(),
        };
        let mut worker =
            Worker::start(self.env, &self.dir, options).map_err(|e| runner_error_verdict(&e))?;
        let entry = worker
            .load_entry(&self.contract.names, self.contract.challenge.as_str())
            .map_err(|e| call_error_verdict(&e))?;
        Ok(Session {
            worker,
            entry,
            call_timeout: self.call_timeout,
            env: self.env,
            dir: self.dir.clone(),
            contract: self.contract.clone(),
            limits,
            deadline: self.deadline,
        })
    }
}

/// Turns a failed call into the verdict it deserves: a protocol failure is ours, everything
/// else (exception, timeout, memory, missing name) is the submission's.
pub fn call_error_verdict(error: &CallError) -> Verdict {
    if error.is_harness_fault() {
        Verdict::harness_error(error.to_string())
    } else {
        Verdict::error(error.to_string())
    }
}

/// [`call_error_verdict`] for a worker started by [`Session::spawn_with_memory_limit`]: under
/// the memory cap, running out of memory is exactly what a memory criterion looks for, so it
/// is a FAIL, not an ERROR.
pub fn capped_call_error_verdict(error: &CallError) -> Verdict {
    match error {
        CallError::MemoryLimit {
            limit_bytes,
            detail,
        } => Verdict::fail(format!(
            "ran out of memory under a {limit_bytes} B address-space cap: {detail}"
        )),
        other => call_error_verdict(other),
    }
}

/// A submission folder the runner refuses (too large, unreadable) is the submission's fault;
/// every other runner failure (no sandbox, no interpreter) is the harness's.
fn runner_error_verdict(error: &RunnerError) -> Verdict {
    match error {
        RunnerError::Submission { .. } => Verdict::error(error.to_string()),
        _ => Verdict::harness_error(error.to_string()),
    }
}

/// Grades a Python submission: shared criteria here, the challenge's own in `decide`.
/// `criteria` is the grader's full list (it must include [`NO_FRAMEWORKS`] and [`SELF_TEST`]).
pub fn grade_python(
    contract: &PythonContract,
    criteria: &[Criterion],
    dir: &Path,
    ctx: &GradeContext,
    decide: impl FnOnce(&mut Session, &mut Scorecard),
) -> Graded {
    grade_python_with(contract, criteria, &[], dir, ctx, decide)
}

/// [`grade_python`] for a grader that decided some criteria without running any submission
/// code (e.g. from files the submission left behind): those verdicts stand whatever happens
/// to the worker, since a verdict recorded first is never overwritten.
pub fn grade_python_with(
    contract: &PythonContract,
    criteria: &[Criterion],
    decided: &[CriterionResult],
    dir: &Path,
    ctx: &GradeContext,
    decide: impl FnOnce(&mut Session, &mut Scorecard),
) -> Graded {
    let mut card = Scorecard::new(criteria);
    for result in decided {
        card.record(&result.criterion.id, result.verdict.clone(), result.seconds);
    }
    let mut graded = Graded::default();
    card.decide_remaining(
        Some(CriterionKind::Manual),
        &Verdict::skipped("manual: needs review"),
    );
    describe_sandbox(&mut graded);

    let env = match python_env() {
        Ok(env) => env,
        Err(reason) => {
            card.decide_remaining(
                None,
                &Verdict::harness_error(format!("no Python: {reason}")),
            );
            graded.results = card.finish("no Python");
            return graded;
        }
    };
    graded
        .environment
        .insert("python".into(), env.python_version.clone());
    graded
        .environment
        .insert("numpy".into(), env.numpy_version.clone());

    let call_timeout = contract.call_timeout.mul_f64(machine_slowdown());
    graded.environment.insert(
        "per_call_limit".into(),
        format!(
            "{:.0} s ({:.1}× the nominal {:.0} s: measured machine load)",
            call_timeout.as_secs_f64(),
            machine_slowdown(),
            contract.call_timeout.as_secs_f64()
        ),
    );
    // One budget for everything run for this submission: workers and self-tests alike.
    let deadline = Instant::now() + ctx.total_timeout;
    let limits = Limits {
        call_timeout,
        total_timeout: ctx.total_timeout,
        memory_bytes: ctx.memory_bytes,
        ..Limits::default()
    };
    let options = WorkerOptions {
        limits: limits.clone(),
        fixtures: contract.fixtures.clone(),
    };
    let mut worker = match Worker::start(env, dir, options) {
        Ok(worker) => worker,
        Err(error) => {
            card.decide_remaining(None, &runner_error_verdict(&error));
            graded.results = card.finish("the worker did not start");
            return graded;
        }
    };
    let entry = load(&mut worker, contract, &mut card, &mut graded);
    let stopped = match entry {
        Some(entry) => {
            let mut session = Session {
                worker,
                entry,
                call_timeout,
                env,
                dir: dir.to_path_buf(),
                contract: contract.clone(),
                limits: limits.clone(),
                deadline,
            };
            decide_on_checked_channel(&mut session, criteria, &mut card, decide);
            finish_worker(&session.worker, &mut card, &mut graded)
        }
        None => finish_worker(&worker, &mut card, &mut graded),
    };

    run_self_tests(env, dir, &limits, deadline, contract.self_test, &mut card);
    graded.results = card.finish(stopped.as_deref().unwrap_or("the grader did not reach it"));
    no_vacuous_framework_pass(&mut graded.results);
    graded
}

/// Runs `decide`, then checks the worker channel once more (a forged line sent during the last
/// call leaves the real answer queued). If the channel was tampered with at any point, no
/// result of this worker is believed: every PASS it produced becomes an ERROR saying why.
fn decide_on_checked_channel(
    session: &mut Session,
    criteria: &[Criterion],
    card: &mut Scorecard,
    decide: impl FnOnce(&mut Session, &mut Scorecard),
) {
    let mut session_card = Scorecard::new(criteria);
    decide(session, &mut session_card);
    if !session.is_stopped() {
        // A failure here either is tampering (recorded by the worker) or stops the worker.
        let _ = session.worker.check_channel();
    }
    let tampering = session.worker.tampering().map(str::to_string);
    let decided: Vec<bool> = criteria
        .iter()
        .map(|c| session_card.is_decided(&c.id))
        .collect();
    for (result, decided) in session_card.finish("").into_iter().zip(decided) {
        if !decided {
            continue;
        }
        let verdict = match &tampering {
            Some(what) if result.verdict.is_pass() => Verdict::error(format!(
                "voided: the worker channel was tampered with ({what})"
            )),
            _ => result.verdict,
        };
        card.record(&result.criterion.id, verdict, result.seconds);
    }
}

/// Decides what the worker's whole life shows (imports of blocked frameworks), notes output
/// that was cut, and says why the worker stopped, if it did. Whether the PASS is earned at all
/// is [`no_vacuous_framework_pass`]'s to say.
fn finish_worker(worker: &Worker, card: &mut Scorecard, graded: &mut Graded) -> Option<String> {
    let blocked = worker.blocked_imports().to_vec();
    let verdict = if !blocked.is_empty() {
        graded
            .notes
            .push(format!("blocked imports attempted: {}", blocked.join(", ")));
        Verdict::fail(format!("tried to import {}", blocked.join(", ")))
    } else {
        Verdict::pass("no blocked framework was imported")
    };
    card.record(NO_FRAMEWORKS, verdict, 0.0);
    note_output(worker, graded);
    worker.stopped().map(str::to_string)
}

/// "Imports no framework" is a point only for an answer something checked: when every other
/// auto criterion ended in ERROR (no module loaded, contract names missing, every call raised),
/// no call of the contract succeeded, and its PASS becomes an ERROR saying so.
fn no_vacuous_framework_pass(results: &mut [CriterionResult]) {
    let checked = results.iter().any(|r| {
        r.criterion.kind == CriterionKind::Auto
            && r.criterion.id != NO_FRAMEWORKS
            && !matches!(r.verdict, Verdict::Error { .. })
    });
    if checked {
        return;
    }
    for result in results.iter_mut() {
        if result.criterion.id == NO_FRAMEWORKS && result.verdict.is_pass() {
            result.verdict = Verdict::error(
                "no criterion could check the answer (every one ended in ERROR), so there was \
                 nothing to check",
            );
        }
    }
}

/// Entry discovery. Without the required names no auto criterion can run: they are ERROR
/// ("missing ..."), while the self-test still runs.
fn load(
    worker: &mut Worker,
    contract: &PythonContract,
    card: &mut Scorecard,
    graded: &mut Graded,
) -> Option<EntryInfo> {
    match worker.load_entry(&contract.names, contract.challenge.as_str()) {
        Ok(entry) => {
            graded.entry = Some(entry.file.display().to_string());
            if entry.candidates.len() > 1 {
                graded.notes.push(format!(
                    "several files define the contract; chose {} over {}",
                    entry.file.display(),
                    entry.candidates[1..]
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let missing: Vec<_> = contract
                .required
                .iter()
                .filter(|name| entry.missing.iter().any(|m| m == *name))
                .collect();
            if !missing.is_empty() {
                let evidence = format!(
                    "missing {} in {}",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    entry.file.display()
                );
                fail_auto(card, &Verdict::error(evidence));
                return None;
            }
            Some(entry)
        }
        Err(error) => {
            fail_auto(card, &call_error_verdict(&error));
            None
        }
    }
}

/// Every undecided auto criterion but the framework check (decided from the worker's whole
/// life) gets `verdict`: used when the submission cannot be run.
fn fail_auto(card: &mut Scorecard, verdict: &Verdict) {
    for id in card.undecided(CriterionKind::Auto) {
        if id != NO_FRAMEWORKS {
            card.record(&id, verdict.clone(), 0.0);
        }
    }
}

fn describe_sandbox(graded: &mut Graded) {
    let caps = probe_sandbox();
    graded.environment.insert(
        "sandbox".into(),
        format!(
            "network isolated: {}, pid namespace: {}, own uid: {}",
            caps.network_isolated, caps.pid_namespace, caps.drops_privileges
        ),
    );
    graded.notes.extend(caps.notes.iter().cloned());
}

fn note_output(worker: &Worker, graded: &mut Graded) {
    for (name, captured) in [
        ("stdout", worker.stdout_tail()),
        ("stderr", worker.stderr_tail()),
    ] {
        if captured.total_bytes > captured.tail.len() as u64 {
            graded.notes.push(format!(
                "the submission wrote {} bytes to {name}; only the last {} were kept",
                captured.total_bytes,
                captured.tail.len()
            ));
        }
    }
}

/// `test_*.py` or `*_test.py`.
fn is_test_file(path: &Path) -> bool {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    stem.is_some_and(|s| s.starts_with("test_") || s.ends_with("_test"))
}

/// The scripts that make up a submission's own tests: `test_*.py` / `*_test.py` files, or,
/// when there are none, every top-level `.py` file run as a program (prompts ask for tests in
/// the solution file itself, under `if __name__ == "__main__":`).
pub fn self_test_scripts(dir: &Path) -> Vec<PathBuf> {
    let mut python: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "py"))
                .collect()
        })
        .unwrap_or_default();
    python.sort();
    let tests: Vec<PathBuf> = python.iter().filter(|p| is_test_file(p)).cloned().collect();
    if tests.is_empty() { python } else { tests }
}

fn run_self_tests(
    env: &PythonEnv,
    dir: &Path,
    limits: &Limits,
    deadline: Instant,
    rule: SelfTestRule,
    card: &mut Scorecard,
) {
    if card.is_decided(SELF_TEST) {
        return;
    }
    let started = std::time::Instant::now();
    let mut scripts = self_test_scripts(dir);
    if rule == SelfTestRule::TestFilesOnly {
        scripts.retain(|p| is_test_file(p));
        if scripts.is_empty() {
            card.record(
                SELF_TEST,
                Verdict::skipped("no test_*.py files (this challenge's scripts are not run)"),
                0.0,
            );
            return;
        }
    }
    if scripts.is_empty() {
        card.record(SELF_TEST, Verdict::fail("no .py file to run"), 0.0);
        return;
    }
    let mut passed = Vec::new();
    for script in &scripts {
        let name = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let limits = match time_left(deadline) {
            Ok(left) => Limits {
                total_timeout: left,
                ..limits.clone()
            },
            Err(verdict) => {
                card.record(SELF_TEST, verdict.in_context(&name), 0.0);
                return;
            }
        };
        let verdict = match run_script(env, dir, script, &limits) {
            Ok(outcome) if outcome.success => {
                passed.push(name);
                continue;
            }
            Ok(outcome) => Verdict::fail(format!(
                "{name}: {}{}",
                outcome.status,
                last_line(&outcome.stderr.tail)
                    .or_else(|| last_line(&outcome.stdout.tail))
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default()
            )),
            Err(error) => runner_error_verdict(&error).in_context(&name),
        };
        card.record(SELF_TEST, verdict, started.elapsed().as_secs_f64());
        return;
    }
    card.record(
        SELF_TEST,
        Verdict::pass(format!("exit 0: {}", passed.join(", "))),
        started.elapsed().as_secs_f64(),
    );
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.chars().take(200).collect())
}

/// Grades the Rust reference: the challenge's own auto criteria in `decide`, the shared ones
/// as the reference sees them ([`decide_reference_shared`]). `criteria` is the grader's full list.
pub fn grade_reference(criteria: &[Criterion], decide: impl FnOnce(&mut Scorecard)) -> Graded {
    let mut card = Scorecard::new(criteria);
    decide(&mut card);
    decide_reference_shared(&mut card);
    Graded {
        results: card.finish("the reference did not reach it"),
        ..Graded::default()
    }
}

/// The shared criteria as the reference sees them: Rust has no Python frameworks to import,
/// and its own tests run under `cargo test`, not as a submission's self-test.
pub fn decide_reference_shared(card: &mut Scorecard) {
    card.record(
        NO_FRAMEWORKS,
        Verdict::pass("Rust reference: no Python at all"),
        0.0,
    );
    card.record(
        SELF_TEST,
        Verdict::skipped("the reference's own tests run under cargo test"),
        0.0,
    );
    card.decide_remaining(
        Some(CriterionKind::Manual),
        &Verdict::skipped("manual: the reference documents this in its doc comments"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_only_ever_lengthened_by_load() {
        let slowdown = machine_slowdown();
        assert!((1.0..=10.0).contains(&slowdown), "{slowdown}");
        assert_eq!(machine_slowdown(), slowdown, "measured once per process");
    }

    #[test]
    fn self_tests_are_test_files_or_else_every_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("solution.py"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let names = |dir: &Path| -> Vec<String> {
            self_test_scripts(dir)
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(dir.path()), ["solution.py"]);
        std::fs::write(dir.path().join("test_solution.py"), "").unwrap();
        std::fs::write(dir.path().join("grad_test.py"), "").unwrap();
        assert_eq!(names(dir.path()), ["grad_test.py", "test_solution.py"]);
    }
}
