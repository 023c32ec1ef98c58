//! The `no_softmax_buffer` criterion: device memory the submission may use, enforced by the
//! driver rather than counted where the submission could rewrite the count.
//!
//! The runner's `__wrap_` counters sit in the submission's process, and so could be patched.
//! What the judge decides with figures from its own process ([`DeviceMemory`], the judge's CUDA
//! context):
//! - before the submission's first call, its process may hold no more device memory than a
//!   *twin* — the same runner, in a sandbox of its own, with the reference library, the same
//!   shape — held (measured as the drop in free device memory each process caused); more, by
//!   the allowance or beyond, is a buffer grabbed when the library loaded: FAIL;
//! - during the call the judge holds all free device memory but the allowance (1/8 of the
//!   softmax) plus [`CODE_AND_STACK_MARGIN`] for the lazily loaded kernels and local memory, so
//!   an allocation of the softmax fails in the driver whatever the process's counters say;
//! - the outputs must look like a top-k, and the counters' peak must stay below the allowance
//!   too (the counter catches pinned host and managed memory, which the hold cannot).
//!
//! Without a judge-side GPU (the CPU emulation in the tests) only the counters decide; the
//! evidence says so.

use std::any::Any;
use std::path::Path;
use std::time::{Duration, Instant};

use fuse::cuda::GpuSession;
use judge_core::Verdict;
use judge_runner::Sandbox;

use crate::cases::TimedCase;
use crate::checks::MEMORY_FRACTION;
use crate::compile::ENTRY_SYMBOL;
use crate::runner::{RunnerBuild, TimedLibrary, TimingError, TimingSession};
use rand::Rng;

use crate::checks::{call_status, looks_like_top_k};

/// Device memory beyond the allowance left free during the call: the submission's kernels
/// load lazily at their first launch, and a kernel that needs more local memory than the
/// context reserved grows that reservation then.
pub const CODE_AND_STACK_MARGIN: u64 = 1 << 30;

/// Device memory seen and held from the judge's own process.
pub trait DeviceMemory {
    /// Free device memory, for every process on the device.
    fn free_bytes(&self) -> Result<u64, String>;
    /// Holds all free device memory but `leave` bytes until the guard is dropped.
    fn hold_all_but(&self, leave: u64) -> Result<Box<dyn Any>, String>;
}

impl DeviceMemory for GpuSession {
    fn free_bytes(&self) -> Result<u64, String> {
        self.free_memory().map_err(|e| e.to_string())
    }

    fn hold_all_but(&self, leave: u64) -> Result<Box<dyn Any>, String> {
        self.reserve_all_but(leave)
            .map(|reservation| Box::new(reservation) as Box<dyn Any>)
            .map_err(|e| e.to_string())
    }
}

/// Decides `no_softmax_buffer` for `library` (readable inside `sandbox`) on `case`; `device`
/// is the judge's own view of the GPU (None: counters only).
pub fn no_softmax_buffer(
    build: &RunnerBuild,
    sandbox: &Sandbox,
    library: &Path,
    case: &TimedCase,
    device: Option<&dyn DeviceMemory>,
) -> Verdict {
    match measure(build, sandbox, library, case, device) {
        Ok(verdict) | Err(verdict) => verdict,
    }
}

fn measure(
    build: &RunnerBuild,
    sandbox: &Sandbox,
    library: &Path,
    case: &TimedCase,
    device: Option<&dyn DeviceMemory>,
) -> Result<Verdict, Verdict> {
    let description = case.description();
    let softmax_bytes = (case.rows * case.vocab * 4) as u64;
    let allowance = softmax_bytes / MEMORY_FRACTION;
    let free = |device: &dyn DeviceMemory| {
        device
            .free_bytes()
            .map_err(|e| Verdict::harness_error(format!("free device memory: {e}")))
    };
    let shaped = |session: &mut TimingSession| session.shape(case.rows, case.vocab, case.k, 1);

    // The twin: what a runner with a library that grabs nothing holds before its first call.
    let twin_held = match device {
        Some(device) => {
            let twin_sandbox = Sandbox::new(None)
                .map_err(|e| Verdict::harness_error(format!("the twin's sandbox: {e}")))?;
            let reference = [TimedLibrary {
                name: "reference",
                path: &build.reference_library,
                symbol: ENTRY_SYMBOL,
            }];
            let before = free(device)?;
            let mut twin = TimingSession::start(build, &twin_sandbox, "memory-twin", &reference)
                .map_err(twin_failed)?;
            shaped(&mut twin).map_err(twin_failed)?;
            let held = before.saturating_sub(free(device)?);
            drop(twin);
            Some((held, before))
        }
        None => None,
    };
    // The driver frees a dead process's memory as it tears down: wait for the twin's to come
    // back, or the submission's own holding would be measured short.
    let before = match (device, twin_held) {
        (Some(device), Some((_, level))) => Some(settled(device, level)?),
        _ => None,
    };
    let twin_held = twin_held.map(|(held, _)| held);

    let submission = [TimedLibrary {
        name: "submission",
        path: library,
        symbol: ENTRY_SYMBOL,
    }];
    let mut session = TimingSession::start(build, sandbox, "memory", &submission)
        .map_err(|e| Verdict::harness_error(format!("the submission's runner: {e}")))?;
    let failed = |e: TimingError| Verdict::error(format!("{description}: {e}"));
    shaped(&mut session).map_err(failed)?;
    let mut held_note = String::new();
    let mut hold = None;
    if let (Some(device), Some(before), Some(twin_held)) = (device, before, twin_held) {
        let held = before.saturating_sub(free(device)?);
        let extra = held.saturating_sub(twin_held);
        if extra >= allowance {
            return Ok(Verdict::fail(format!(
                "{description}: before its first call its process held {held} B of device memory, {extra} B more than the judge's runner with the reference library ({twin_held} B): a buffer of ≥ 1/{MEMORY_FRACTION} of the {softmax_bytes} B softmax grabbed when the library loaded"
            )));
        }
        let leave = allowance + CODE_AND_STACK_MARGIN;
        hold = Some(
            device
                .hold_all_but(leave)
                .map_err(|e| Verdict::harness_error(format!("holding the GPU's memory: {e}")))?,
        );
        let left = free(device)?;
        held_note = format!(
            "; during the call {left} B of device memory were free (1/{MEMORY_FRACTION} of the softmax + {CODE_AND_STACK_MARGIN} B for code and local memory; the judge held the rest), and before it the process held {extra} B more than the judge's twin"
        );
    }
    let seed: u64 = rand::rng().random();
    let reply = session
        .rep("submission", seed, case.scale)
        .map_err(failed)?;
    drop(hold);
    // Exactness is the other criteria's business; here the outputs only have to be a top-k
    // (a call that did not do the work has no memory use to speak of).
    let done = call_status(
        &description,
        (reply.status, &reply.status_name),
        (reply.sync_status, &reply.sync_status_name),
    )
    .and_then(|()| match &reply.outputs {
        Some(outputs) => looks_like_top_k(outputs, case.vocab).map_err(|problem| {
            Verdict::fail(format!(
                "{description}: the outputs are not a top-k ({problem})"
            ))
        }),
        None => Err(Verdict::fail(format!("{description}: no outputs"))),
    });
    if let Err(verdict) = done {
        let why = verdict.detail().to_string();
        return Ok(if held_note.is_empty() {
            Verdict::fail(format!("{why}, so its memory use says nothing"))
        } else {
            Verdict::fail(format!(
                "{why}{held_note}: it does not work within the allowed device memory"
            ))
        });
    }
    let counted = format!(
        "{description}: peak {} B allocated during the call ({} allocation calls), counted in its process, vs limit {allowance} B = 1/{MEMORY_FRACTION} of the {softmax_bytes} B softmax",
        reply.allocation_peak, reply.allocation_calls
    );
    let evidence = if held_note.is_empty() {
        format!("{counted}; no device-memory hold (no GPU in the judge's process)")
    } else {
        format!("{counted}{held_note}")
    };
    Ok(Verdict::check(reply.allocation_peak < allowance, evidence))
}

/// Free device memory once it is back to within [`SETTLED`] of `level`, or after a few
/// seconds (then the figure as it is: a submission measured short is given the benefit).
fn settled(device: &dyn DeviceMemory, level: u64) -> Result<u64, Verdict> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let free = device
            .free_bytes()
            .map_err(|e| Verdict::harness_error(format!("free device memory: {e}")))?;
        if free + SETTLED >= level || Instant::now() >= deadline {
            return Ok(free);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Free device memory this close to its level before the twin counts as back.
const SETTLED: u64 = 64 << 20;

fn twin_failed(e: TimingError) -> Verdict {
    Verdict::harness_error(format!("the judge's twin runner: {e}"))
}
