//! Grading a Python submission: everything around the grader's own decisions.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use judge_core::{
    Criterion, CriterionKind, CriterionResult, GradeContext, Graded, Scorecard, Verdict,
};
use judge_runner::{Limits, PythonEnv, Worker, WorkerOptions, probe_sandbox};

use crate::entry::LoadPlan;

use crate::contract::PythonContract;
use crate::criteria::NO_FRAMEWORKS;
use crate::entry;
use crate::machine_load::machine_slowdown;
use crate::self_test::run_self_tests;
use crate::session::Session;
use crate::verdicts::runner_error_verdict;

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

/// Grades a Python submission: shared criteria here, the challenge's own in `decide`.
/// `criteria` is the grader's full list (it must include [`NO_FRAMEWORKS`] and [`SELF_TEST`](crate::SELF_TEST)).
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
    let plan = match LoadPlan::new(contract.challenge, dir, ctx) {
        Ok(plan) => plan,
        Err(verdict) => {
            entry::fail_auto(&mut card, &verdict);
            run_self_tests(env, dir, &limits, deadline, contract.self_test, &mut card);
            graded.results = card.finish(verdict.detail());
            no_vacuous_framework_pass(&mut graded.results);
            return graded;
        }
    };
    graded.adapter = plan.adapter.clone();
    if let (Some(adapter), Some(entry)) = (&plan.adapter, &ctx.entry) {
        graded.notes.push(format!(
            "--entry {entry} not used: the adapter {} is the entry",
            adapter.path
        ));
    }
    let mut worker = match plan.start_worker(env, dir, options) {
        Ok(worker) => worker,
        Err(error) => {
            card.decide_remaining(None, &runner_error_verdict(&error));
            graded.results = card.finish("the worker did not start");
            return graded;
        }
    };
    let entry = entry::load(&mut worker, contract, &plan, &mut card, &mut graded);
    let mut grader_notes = Vec::new();
    let stopped = match entry {
        Some(entry) => {
            let mut session = Session {
                worker,
                entry,
                call_timeout,
                env,
                dir: dir.to_path_buf(),
                contract: contract.clone(),
                plan,
                limits: limits.clone(),
                deadline,
                notes: Vec::new(),
            };
            decide_on_checked_channel(&mut session, criteria, &mut card, decide);
            grader_notes = session.notes;
            finish_worker(&session.worker, &mut card, &mut graded)
        }
        None => finish_worker(&worker, &mut card, &mut graded),
    };

    run_self_tests(env, dir, &limits, deadline, contract.self_test, &mut card);
    graded.results = card.finish(stopped.as_deref().unwrap_or("the grader did not reach it"));
    no_vacuous_framework_pass(&mut graded.results);
    graded.notes.extend(grader_notes);
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
    // When the interface was not followed anywhere, that is why nothing could be checked.
    let contract = results.iter().all(|r| {
        r.criterion.kind != CriterionKind::Auto
            || r.criterion.id == NO_FRAMEWORKS
            || r.verdict.is_contract_fault()
    });
    for result in results.iter_mut() {
        if result.criterion.id == NO_FRAMEWORKS && result.verdict.is_pass() {
            let evidence = "no criterion could check the answer (every one ended in ERROR), so \
                            there was nothing to check";
            result.verdict = if contract {
                Verdict::contract_error(evidence)
            } else {
                Verdict::error(evidence)
            };
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
