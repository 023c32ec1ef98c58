//! The `faster_than_naive` criterion: the timing protocol, driven by the judge.
//!
//! Two runner processes, two sandboxes, never one address space, never alive together while
//! either is measured. The *baseline* process loads only the judge's libraries — the naive
//! baseline and the reference kernel — and times a device-to-device copy of the logits (the
//! bandwidth behind the speed-of-light floor). It is measured first, for every shape, before the
//! *submission* process exists: a submission's background thread could otherwise slow the
//! baseline down by keeping the GPU busy (the GPU time-slices between processes). The baseline
//! process is ended, then the submission process — which loads only the submission — is started
//! and measured. The judge sends one request at a time and measures every round trip on its own
//! clock (`runner::TimingSession`).
//!
//! - The baseline's CUDA-event times are believed: no submission code runs in that process.
//! - The submission's CUDA-event times are claims: its code shares the process with the events,
//!   the reply pipe and everything the runner writes. Each repetition counts as the claim raised
//!   to what the judge's clock allows — its round trip less the round-trip overhead the baseline
//!   showed (`fuse::timing::corroborated_ms`). A claim or a round trip less overhead below the
//!   memory bound is impossible: FAIL.
//! - Every repetition gets fresh logits, generated on the device from a seed the judge draws just
//!   before the request (unpredictable: no answer can be computed ahead), the L2 cache flushed
//!   first; its outputs come back inside the reply and are checked on rows the judge draws after
//!   it, so a repetition that skipped work is caught whichever rows it skipped.
//! - Each series runs until it is precise or capped (`fuse::timing::StoppingRule`); the naive
//!   and reference repetitions alternate, so that clock drift falls on both alike.

use std::path::Path;
use std::time::Instant;

use fuse::TopK;
use fuse::timing::{
    Stop, StoppingRule, Summary, copy_bandwidth, corroborated_ms, faster_than_memory_bound,
    memory_floor_ms, suspiciously_fast,
};
use judge_core::Verdict;
use judge_runner::Sandbox;
use rand::Rng;

use crate::cases::{TimedCase, generated_row};
use crate::checks::{call_status, compare_top_k, expected};
use crate::compile::ENTRY_SYMBOL;
use crate::runner::{RepReply, RunnerBuild, TimedLibrary, TimingError, TimingSession};

/// "Faster than the naive baseline", by a margin timing noise cannot produce.
pub const MIN_SPEEDUP: f64 = 1.5;

/// A submission whose median claim is below 1/this of the judge's clock is told so in the
/// evidence (the verdict already uses the clock).
const CONTRADICTED: f64 = 2.0;

/// Rows of every timed repetition whose outputs are compared with the CPU reference.
const ROWS_CHECKED_PER_REP: usize = 4;

/// How the device is flushed and how long each series is measured.
#[derive(Debug, Clone, Copy)]
pub struct TimingSetup {
    /// Bytes written before every timed call: more than the device's L2 cache holds.
    pub flush_bytes: u64,
    /// When a timed series has enough samples: precise enough, or capped in count or time.
    pub rule: StoppingRule,
}

impl TimingSetup {
    /// For a GPU whose L2 holds `l2_bytes` (the driver's `CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE`):
    /// flush twice that, the leaderboards' stopping rule.
    pub fn for_gpu(l2_bytes: u64) -> TimingSetup {
        TimingSetup {
            flush_bytes: (2 * l2_bytes).max(1 << 20),
            rule: StoppingRule::GPU,
        }
    }
}

/// Library names inside the runners.
const NAIVE: &str = "naive";
const REFERENCE: &str = "reference";
const SUBMISSION: &str = "submission";

/// Decides `faster_than_naive` for `library` (readable inside `sandbox`) on `cases`.
pub fn faster_than_naive(
    build: &RunnerBuild,
    sandbox: &Sandbox,
    library: &Path,
    cases: &[TimedCase],
    setup: &TimingSetup,
) -> Verdict {
    let baselines = match measure_baselines(build, cases, setup) {
        Ok(baselines) => baselines,
        Err(verdict) => return verdict,
    };
    let submission_library = [TimedLibrary {
        name: SUBMISSION,
        path: library,
        symbol: ENTRY_SYMBOL,
    }];
    let mut submission = match TimingSession::start(build, sandbox, "speed", &submission_library) {
        Ok(session) => session,
        Err(e) => return Verdict::harness_error(format!("the submission's runner: {e}")),
    };
    let mut evidence = Vec::new();
    let mut all_fast = true;
    for (case, baseline) in cases.iter().zip(&baselines) {
        match measure_submission(&mut submission, case, baseline, setup) {
            Ok(measured) => {
                all_fast &= measured.speedup >= MIN_SPEEDUP;
                evidence.push(measured.evidence);
            }
            Err(verdict) => return verdict,
        }
    }
    Verdict::check(
        all_fast,
        format!("{}; need ≥ {MIN_SPEEDUP}× each", evidence.join("; ")),
    )
}

/// What the baseline process measured for one shape.
struct Baseline {
    naive: Summary,
    reference: Summary,
    /// What a round trip costs besides the call: the median of span − event time, and its
    /// interquartile range (the judge's clock's own noise).
    overhead_ms: f64,
    overhead_spread_ms: f64,
    /// The speed-of-light floor of reading the logits, and the copy bandwidth (B/ms) behind it.
    floor_ms: f64,
    bandwidth: f64,
    stop: Stop,
}

struct Measured {
    speedup: f64,
    evidence: String,
}

/// A failure of either process, as the verdict it earns: the baseline's is the harness's, the
/// submission's process is the submission's.
fn baseline_failed(e: TimingError) -> Verdict {
    Verdict::harness_error(format!("the baseline runner: {e}"))
}

fn submission_failed(description: &str, e: TimingError) -> Verdict {
    Verdict::error(format!("{description}: while timing: {e}"))
}

/// Every shape's baseline figures, from a process of its own in a sandbox of its own, ended
/// before this returns.
fn measure_baselines(
    build: &RunnerBuild,
    cases: &[TimedCase],
    setup: &TimingSetup,
) -> Result<Vec<Baseline>, Verdict> {
    let sandbox = Sandbox::new(None)
        .map_err(|e| Verdict::harness_error(format!("the baseline's sandbox: {e}")))?;
    let libraries = [
        TimedLibrary {
            name: NAIVE,
            path: &build.naive_library,
            symbol: "naive_softmax_topk",
        },
        TimedLibrary {
            name: REFERENCE,
            path: &build.reference_library,
            symbol: ENTRY_SYMBOL,
        },
    ];
    let mut session =
        TimingSession::start(build, &sandbox, "baseline", &libraries).map_err(baseline_failed)?;
    cases
        .iter()
        .map(|case| measure_baseline(&mut session, case, setup))
        .collect()
}

/// The copy bandwidth, then naive and reference repetitions in turn until both series stop.
fn measure_baseline(
    session: &mut TimingSession,
    case: &TimedCase,
    setup: &TimingSetup,
) -> Result<Baseline, Verdict> {
    let logit_bytes = (case.rows * case.vocab * 4) as u64;
    session
        .shape(case.rows, case.vocab, case.k, setup.flush_bytes)
        .map_err(baseline_failed)?;
    let rule = setup.rule;
    let mut copies = Vec::new();
    for _ in 0..rule.warmup {
        session.copy().map_err(baseline_failed)?;
    }
    let started = Instant::now();
    while rule.stop(&copies, started.elapsed()).is_none() {
        copies.push(session.copy().map_err(baseline_failed)?.claimed_ms);
    }
    let copy = Summary::of(&copies)
        .ok_or_else(|| Verdict::harness_error("the copy could not be timed"))?;
    let bandwidth = copy_bandwidth(logit_bytes, copy.median);

    let (mut naive, mut reference, mut overheads) = (Vec::new(), Vec::new(), Vec::new());
    let mut rep = |library: &str| -> Result<RepReply, Verdict> {
        let (reply, checked) = timed_rep(session, library, case).map_err(baseline_failed)?;
        checked.map_err(|verdict| {
            Verdict::harness_error(format!(
                "the judge's {library} kernel is wrong: {}",
                verdict.detail()
            ))
        })?;
        Ok(reply)
    };
    for _ in 0..rule.warmup {
        rep(NAIVE)?;
        rep(REFERENCE)?;
    }
    let started = Instant::now();
    let stop = loop {
        let naive_rep = rep(NAIVE)?;
        if naive_rep.allocation_peak < logit_bytes {
            return Err(Verdict::harness_error(format!(
                "allocation counting is broken: the naive baseline's {logit_bytes} B softmax buffer was counted as {} B",
                naive_rep.allocation_peak
            )));
        }
        let reference_rep = rep(REFERENCE)?;
        for (series, reply) in [(&mut naive, &naive_rep), (&mut reference, &reference_rep)] {
            series.push(reply.claimed_ms);
            overheads.push(reply.span_ms - reply.claimed_ms);
        }
        let elapsed = started.elapsed();
        if let (Some(a), Some(b)) = (rule.stop(&naive, elapsed), rule.stop(&reference, elapsed)) {
            break if a == Stop::Precise && b == Stop::Precise {
                Stop::Precise
            } else {
                Stop::Capped
            };
        }
    };
    let summary = |values: &[f64]| {
        Summary::of(values).ok_or_else(|| Verdict::harness_error("a baseline series is empty"))
    };
    let overhead = summary(&overheads)?;
    Ok(Baseline {
        naive: summary(&naive)?,
        reference: summary(&reference)?,
        overhead_ms: overhead.median,
        overhead_spread_ms: overhead.q3 - overhead.q1,
        floor_ms: memory_floor_ms(logit_bytes, bandwidth),
        bandwidth,
        stop,
    })
}

/// The submission's repetitions on one shape until they stop, judged against `baseline`.
fn measure_submission(
    session: &mut TimingSession,
    case: &TimedCase,
    baseline: &Baseline,
    setup: &TimingSetup,
) -> Result<Measured, Verdict> {
    let description = case.description();
    let logit_bytes = (case.rows * case.vocab * 4) as u64;
    session
        .shape(case.rows, case.vocab, case.k, setup.flush_bytes)
        .map_err(|e| submission_failed(&description, e))?;
    let rule = setup.rule;
    let mut rep = || -> Result<RepReply, Verdict> {
        let (reply, checked) =
            timed_rep(session, SUBMISSION, case).map_err(|e| submission_failed(&description, e))?;
        checked.map_err(|verdict| {
            Verdict::fail(format!(
                "the timed outputs are wrong, so the speed is not credited: {}",
                verdict.detail()
            ))
        })?;
        Ok(reply)
    };
    for _ in 0..rule.warmup {
        rep()?;
    }
    let (mut claimed, mut by_clock, mut counted) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    let stop = loop {
        let reply = rep()?;
        claimed.push(reply.claimed_ms);
        by_clock.push(reply.span_ms - baseline.overhead_ms);
        counted.push(corroborated_ms(
            reply.claimed_ms,
            reply.span_ms,
            baseline.overhead_ms,
        ));
        if let Some(stop) = rule.stop(&counted, started.elapsed()) {
            break stop;
        }
    };
    let summary = |values: &[f64]| {
        Summary::of(values)
            .ok_or_else(|| Verdict::harness_error(format!("{description}: no times")))
    };
    let (claimed, by_clock, counted) =
        (summary(&claimed)?, summary(&by_clock)?, summary(&counted)?);
    let floor = baseline.floor_ms;
    let bound = format!(
        "the memory bound is {floor:.3e} ms (rows·V·4 = {logit_bytes} B at the copy's {:.0} GB/s)",
        baseline.bandwidth / 1e6
    );
    // The clock's figure can be below the floor too: a library that skips reading the inputs
    // (computing them from the seed instead) finishes a round trip sooner than the baseline's.
    // It is given the clock's own noise.
    for (what, ms, slack) in [
        ("its own claim", claimed.median, 0.0),
        (
            "the judge's clock",
            by_clock.median,
            baseline.overhead_spread_ms,
        ),
    ] {
        if faster_than_memory_bound(ms + slack, floor) {
            return Err(Verdict::fail(format!(
                "{description}: faster than the memory bound — {ms:.3e} ms by {what}, but {bound}: an impossible time (cached, skipped or forged work)"
            )));
        }
    }
    let naive = &baseline.naive;
    let speedup = naive.median / counted.median.max(1e-9);
    let stopped = |stop: Stop| match stop {
        Stop::Precise => "within the target error",
        Stop::Capped => "stopped at the cap",
    };
    let mut evidence = format!(
        "{description}: {} vs naive {} ({speedup:.2}×; per run the larger of its process's claim, median {:.4} ms, and the judge's clock, median {:.4} ms, {}; naive and reference timed first in a process of their own, {}; reference kernel {:.4} ms; {bound})",
        counted.describe(),
        naive.describe(),
        claimed.median,
        by_clock.median,
        stopped(stop),
        stopped(baseline.stop),
        baseline.reference.median,
    );
    if claimed.median * CONTRADICTED < by_clock.median {
        evidence.push_str(" — its claims are contradicted by the judge's clock, which counts");
    }
    if suspiciously_fast(counted.median, baseline.reference.median) {
        evidence.push_str(&format!(
            " FLAGGED: {:.1}× faster than the judge's reference kernel — review it",
            baseline.reference.median / counted.median.max(1e-9)
        ));
    }
    Ok(Measured { speedup, evidence })
}

/// One repetition of `library` on fresh logits, and whether its call succeeded with right
/// outputs on [`ROWS_CHECKED_PER_REP`] rows drawn after it.
fn timed_rep(
    session: &mut TimingSession,
    library: &str,
    case: &TimedCase,
) -> Result<(RepReply, Result<(), Verdict>), TimingError> {
    let seed: u64 = rand::rng().random();
    let reply = session.rep(library, seed, case.scale)?;
    let checked = check_rep(&reply, seed, case);
    Ok((reply, checked))
}

fn check_rep(reply: &RepReply, seed: u64, case: &TimedCase) -> Result<(), Verdict> {
    let description = case.description();
    call_status(
        &description,
        (reply.status, &reply.status_name),
        (reply.sync_status, &reply.sync_status_name),
    )?;
    let outputs = reply
        .outputs
        .as_ref()
        .ok_or_else(|| Verdict::fail(format!("{description}: a timed call returned no outputs")))?;
    let mut rng = rand::rng();
    for _ in 0..ROWS_CHECKED_PER_REP {
        let row = rng.random_range(0..case.rows);
        let logits = generated_row(seed, row, case.vocab, case.scale);
        let want = expected(&logits, 1, case.vocab, case.k)?;
        let (indices, probs) = outputs.row(row);
        let got = TopK {
            rows: 1,
            k: case.k,
            indices: indices.to_vec(),
            probs: probs.to_vec(),
        };
        compare_top_k(&format!("{description}, row {row}"), &want, &got)?;
    }
    Ok(())
}
