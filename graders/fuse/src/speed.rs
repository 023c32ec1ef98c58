//! The `faster_than_naive` criterion: the timing protocol, driven by the judge.
//!
//! Two runner processes, two sandboxes, never one address space. The *baseline* process loads
//! only the judge's libraries — the naive baseline and the reference kernel — and times a
//! device-to-device copy of the logits (the bandwidth behind the speed-of-light floor). The
//! *submission* process loads only the submission. The judge sends one request at a time to
//! either (`runner::TimingSession`) and measures every round trip on its own clock.
//!
//! - The baseline's CUDA-event times are believed: no submission code runs in that process.
//! - The submission's CUDA-event times are claims: its code shares the process with the events,
//!   the reply pipe and everything the runner writes. Each repetition counts as the claim raised
//!   to what the judge's clock allows — its round trip less the round-trip overhead the baseline
//!   shows (`fuse::timing::corroborated_ms`). A claim or a corroborated time below the memory
//!   bound is impossible: FAIL.
//! - Every repetition gets fresh logits, generated on the device from a seed the judge draws just
//!   before the request (unpredictable: no answer can be computed ahead), the L2 cache flushed
//!   first; its outputs come back inside the reply and are checked on rows the judge draws after
//!   it, so a repetition that skipped work is caught whichever rows it skipped.
//! - Repetitions alternate naive, reference, submission, so that clock drift falls on all alike,
//!   until every series is precise (`fuse::timing::StoppingRule`) or the time cap.

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
    let baseline_sandbox = match Sandbox::new(None) {
        Ok(sandbox) => sandbox,
        Err(e) => return Verdict::harness_error(format!("the baseline's sandbox: {e}")),
    };
    let baseline_libraries = [
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
    let mut baseline =
        match TimingSession::start(build, &baseline_sandbox, "baseline", &baseline_libraries) {
            Ok(session) => session,
            Err(e) => return Verdict::harness_error(format!("the baseline runner: {e}")),
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
    for case in cases {
        match measure(&mut baseline, &mut submission, case, setup) {
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

/// One shape: bandwidth, warm-up, alternating repetitions until the series stop, the verdict's
/// figures.
fn measure(
    baseline: &mut TimingSession,
    submission: &mut TimingSession,
    case: &TimedCase,
    setup: &TimingSetup,
) -> Result<Measured, Verdict> {
    let description = case.description();
    let (rows, vocab, k) = (case.rows, case.vocab, case.k);
    let logit_bytes = (rows * vocab * 4) as u64;
    baseline
        .shape(rows, vocab, k, setup.flush_bytes)
        .map_err(baseline_failed)?;
    submission
        .shape(rows, vocab, k, setup.flush_bytes)
        .map_err(|e| submission_failed(&description, e))?;

    let rule = setup.rule;
    let mut copies = Vec::new();
    let started = Instant::now();
    for _ in 0..rule.warmup {
        baseline.copy().map_err(baseline_failed)?;
    }
    while rule.stop(&copies, started.elapsed()).is_none() {
        copies.push(baseline.copy().map_err(baseline_failed)?.claimed_ms);
    }
    let copy = Summary::of(&copies)
        .ok_or_else(|| Verdict::harness_error("the copy could not be timed"))?;
    let bandwidth = copy_bandwidth(logit_bytes, copy.median);
    let floor = memory_floor_ms(logit_bytes, bandwidth);

    let mut series = Series::default();
    for _ in 0..rule.warmup {
        series.round(baseline, submission, case, false)?;
    }
    let started = Instant::now();
    let stop = loop {
        series.round(baseline, submission, case, true)?;
        let elapsed = started.elapsed();
        let stops = [
            rule.stop(&series.naive, elapsed),
            rule.stop(&series.reference, elapsed),
            rule.stop(&series.corroborated(), elapsed),
        ];
        if stops.iter().all(Option::is_some) {
            break if stops.iter().all(|s| *s == Some(Stop::Precise)) {
                "every series within the target error"
            } else {
                "stopped at the cap"
            };
        }
    };

    let summary = |values: &[f64], what: &str| {
        Summary::of(values)
            .ok_or_else(|| Verdict::harness_error(format!("{description}: no {what} times")))
    };
    let naive = summary(&series.naive, "naive")?;
    let reference = summary(&series.reference, "reference")?;
    let claimed = summary(&series.claimed, "claimed")?;
    let decided = summary(&series.corroborated(), "corroborated")?;
    let bound = format!(
        "the memory bound is {floor:.3e} ms (rows·V·4 = {logit_bytes} B at the copy's {:.0} GB/s)",
        bandwidth / 1e6
    );
    for (what, ms) in [
        ("its own claim", claimed.median),
        ("the judge's clock", decided.median),
    ] {
        if faster_than_memory_bound(ms, floor) {
            return Err(Verdict::fail(format!(
                "{description}: faster than the memory bound — {ms:.3e} ms by {what}, but {bound}: an impossible time (cached, skipped or forged work)"
            )));
        }
    }
    let clock = summary(&series.by_clock(), "clock")?;
    let speedup = naive.median / decided.median.max(1e-9);
    let mut evidence = format!(
        "{description}: {} vs naive {} ({speedup:.2}×; per run the larger of its process's claim, median {:.4} ms, and the judge's clock, median {:.4} ms; reference kernel {:.4} ms; {bound}; {stop})",
        decided.describe(),
        naive.describe(),
        claimed.median,
        clock.median,
        reference.median,
    );
    if claimed.median * CONTRADICTED < clock.median {
        evidence.push_str(" — its claims are contradicted by the judge's clock, which counts");
    }
    if suspiciously_fast(decided.median, reference.median) {
        evidence.push_str(&format!(
            " FLAGGED: {:.1}× faster than the judge's reference kernel — review it",
            reference.median / decided.median.max(1e-9)
        ));
    }
    Ok(Measured { speedup, evidence })
}

/// The timed series of one shape: CUDA-event times of the baseline's two libraries, the
/// submission's claims and round trips, and the baseline's round-trip overheads.
#[derive(Default)]
struct Series {
    naive: Vec<f64>,
    reference: Vec<f64>,
    claimed: Vec<f64>,
    spans: Vec<f64>,
    overheads: Vec<f64>,
}

impl Series {
    /// One repetition of each, in turn; recorded when `timed`.
    fn round(
        &mut self,
        baseline: &mut TimingSession,
        submission: &mut TimingSession,
        case: &TimedCase,
        timed: bool,
    ) -> Result<(), Verdict> {
        let description = case.description();
        for library in [NAIVE, REFERENCE] {
            let (reply, checked) = timed_rep(baseline, library, case).map_err(baseline_failed)?;
            checked.map_err(|verdict| {
                Verdict::harness_error(format!(
                    "the judge's {library} kernel is wrong: {}",
                    verdict.detail()
                ))
            })?;
            let softmax_bytes = (case.rows * case.vocab * 4) as u64;
            if library == NAIVE && reply.allocation_peak < softmax_bytes {
                return Err(Verdict::harness_error(format!(
                    "allocation counting is broken: the naive baseline's {softmax_bytes} B softmax buffer was counted as {} B",
                    reply.allocation_peak
                )));
            }
            if timed {
                self.overheads.push(reply.span_ms - reply.claimed_ms);
                match library {
                    NAIVE => self.naive.push(reply.claimed_ms),
                    _ => self.reference.push(reply.claimed_ms),
                }
            }
        }
        let (reply, checked) = timed_rep(submission, SUBMISSION, case)
            .map_err(|e| submission_failed(&description, e))?;
        checked.map_err(|verdict| {
            Verdict::fail(format!(
                "the timed outputs are wrong, so the speed is not credited: {}",
                verdict.detail()
            ))
        })?;
        if timed {
            self.claimed.push(reply.claimed_ms);
            self.spans.push(reply.span_ms);
        }
        Ok(())
    }

    /// The submission's repetitions as the judge counts them: see [`corroborated_ms`].
    fn corroborated(&self) -> Vec<f64> {
        let overhead = self.overhead();
        self.claimed
            .iter()
            .zip(&self.spans)
            .map(|(&claimed, &span)| corroborated_ms(claimed, span, overhead))
            .collect()
    }

    /// The submission's repetitions by the judge's clock alone: round trip less overhead.
    fn by_clock(&self) -> Vec<f64> {
        let overhead = self.overhead();
        self.spans.iter().map(|span| span - overhead).collect()
    }

    /// What a round trip costs besides the call: the baseline's median of span − event time.
    fn overhead(&self) -> f64 {
        Summary::of(&self.overheads).map_or(0.0, |s| s.median)
    }
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
