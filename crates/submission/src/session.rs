//! A started worker for one submission, with its loaded entry module and its time budget.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use judge_core::Verdict;
use judge_runner::{
    CallError, CallOutcome, EntryInfo, Limits, PythonEnv, Target, Value, Worker, WorkerOptions,
};

use crate::contract::PythonContract;
use crate::entry::LoadPlan;
use crate::verdicts::{call_error_verdict, runner_error_verdict};

/// A started worker with its loaded entry module.
pub struct Session {
    /// The sandboxed worker; for calls the helpers below do not cover (fixtures, twins).
    pub worker: Worker,
    /// The entry module the worker loaded, and the contract names it defines.
    pub entry: EntryInfo,

    pub(crate) call_timeout: Duration,
    pub(crate) env: &'static PythonEnv,
    pub(crate) dir: PathBuf,
    pub(crate) contract: PythonContract,
    pub(crate) plan: LoadPlan,
    pub(crate) limits: Limits,
    /// When the whole grading of this submission (`--timeout`) must be over.
    pub(crate) deadline: Instant,
    /// Notes for the report, in the order the grader made them.
    pub(crate) notes: Vec<String>,
}

/// What is left of the grading's time, or the verdict for a check that no longer fits.
pub(crate) fn time_left(deadline: Instant) -> Result<Duration, Verdict> {
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

    /// Adds a note to the report (what the grader chose to call, say), after the notes of the
    /// grading itself. Notes of a session from [`Self::spawn_with_memory_limit`] are its own
    /// and reach no report.
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
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
        let mut worker = self
            .plan
            .start_worker(self.env, &self.dir, options)
            .map_err(|e| runner_error_verdict(&e))?;
        let entry = self
            .plan
            .load_entry(&mut worker, &self.contract)
            .map_err(|e| call_error_verdict(&e))?;
        Ok(Session {
            worker,
            entry,
            call_timeout: self.call_timeout,
            env: self.env,
            dir: self.dir.clone(),
            contract: self.contract.clone(),
            plan: self.plan.clone(),
            limits,
            deadline: self.deadline,
            notes: Vec::new(),
        })
    }
}
