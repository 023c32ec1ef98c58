//! A process-wide tally of what the submission's calls measured, so that a benchmark can split
//! a grade's wall time into the submission's own compute and the harness's share (worker
//! start, transfer, reference, comparisons). No report reads it: it changes no verdict and no
//! GRADE.json byte.

use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);
static CALL_NANOS: AtomicU64 = AtomicU64::new(0);
static ROUND_TRIP_NANOS: AtomicU64 = AtomicU64::new(0);

/// Totals over every call that returned in this process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallTally {
    /// Calls that returned a value.
    pub calls: u64,

    /// Sum of [`super::CallOutcome::seconds`] (the worker's clock; a figure it could forge,
    /// fine for a benchmark of honest fixtures).
    pub call_seconds: f64,
    /// Sum of [`super::CallOutcome::round_trip_seconds`] (the judge's clock).
    pub round_trip_seconds: f64,
}

impl CallTally {
    /// The totals now; subtract an earlier snapshot for a span.
    pub fn now() -> Self {
        Self {
            calls: CALLS.load(Ordering::Relaxed),
            call_seconds: CALL_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
            round_trip_seconds: ROUND_TRIP_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// What was tallied between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            calls: self.calls - earlier.calls,
            call_seconds: self.call_seconds - earlier.call_seconds,
            round_trip_seconds: self.round_trip_seconds - earlier.round_trip_seconds,
        }
    }
}

/// Adds one returned call (a missing or negative worker figure counts as 0).
pub(super) fn record(seconds: f64, round_trip_seconds: f64) {
    let nanos = |s: f64| {
        if s.is_finite() && s > 0.0 {
            (s * 1e9) as u64
        } else {
            0
        }
    };
    CALLS.fetch_add(1, Ordering::Relaxed);
    CALL_NANOS.fetch_add(nanos(seconds), Ordering::Relaxed);
    ROUND_TRIP_NANOS.fetch_add(nanos(round_trip_seconds), Ordering::Relaxed);
}
