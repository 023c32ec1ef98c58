//! How kernels are timed, as plain arithmetic on measured milliseconds: the summary of a series,
//! when to stop measuring, the speed-of-light floor and the implausible-speed-up flag. Shared by
//! the benchmark (`examples/fuse_bench.rs`) and the grader's `faster_than_naive` criterion, which
//! feed it CUDA-event times and the judge's own clock; nothing here touches a GPU.
//!
//! The protocol around these functions (what the callers do): a few untimed warm-up runs, then
//! timed repetitions, each on fresh inputs with the L2 cache flushed before it (a write of a
//! buffer larger than L2) and its outputs checked after it, until [`StoppingRule::stop`] says so.

use std::time::Duration;

/// The summary of a series of times (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of times in the series.
    pub count: usize,
    /// Middle value of the sorted times.
    pub median: f64,
    /// First and third quartiles: the spread reported beside the median.
    pub q1: f64,
    /// Third quartile (see `q1`).
    pub q3: f64,
    /// Fastest time.
    pub min: f64,
    /// Slowest time.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Standard error of the mean over the mean: s / (√n · x̄), s the sample standard deviation.
    pub relative_standard_error: f64,
}

impl Summary {
    /// The summary of `samples`; None for an empty series or one with a non-finite value.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() || samples.iter().any(|t| !t.is_finite()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let relative_standard_error = if n < 2 {
            f64::INFINITY
        } else {
            let variance = sorted.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let standard_error = variance.sqrt() / (n as f64).sqrt();
            if mean > 0.0 {
                standard_error / mean
            } else {
                f64::INFINITY
            }
        };
        Some(Summary {
            count: n,
            median: quantile(&sorted, 0.5),
            q1: quantile(&sorted, 0.25),
            q3: quantile(&sorted, 0.75),
            min: sorted[0],
            max: sorted[n - 1],
            mean,
            relative_standard_error,
        })
    }

    /// `median ms (IQR q1–q3, n runs, RSE x%)`, for evidence.
    pub fn describe(&self) -> String {
        format!(
            "{:.4} ms (IQR {:.4}–{:.4}, n {}, RSE {:.2}%)",
            self.median,
            self.q1,
            self.q3,
            self.count,
            100.0 * self.relative_standard_error
        )
    }
}

/// The q-quantile of sorted values, linear between the closest ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * weight
}

/// When a series of timed repetitions has been measured enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoppingRule {
    /// Untimed runs before the first timed one (module loading, clocks ramping up, pools).
    pub warmup: usize,
    /// No verdict from fewer timed runs than this, however steady.
    pub min_samples: usize,
    /// Stop once the relative standard error of the mean is below this (0.01 = 1%)…
    pub target_relative_error: f64,
    /// …or once this many runs were timed…
    pub max_samples: usize,
    /// …or once measuring has taken this long.
    pub time_cap: Duration,
}

/// Why a series stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The relative standard error reached the target.
    Precise,
    /// The run count or the time cap came first: the summary says how precise it got.
    Capped,
}

impl StoppingRule {
    /// The kernel leaderboards' rule: stop at 1% relative standard error; at most 500 runs or
    /// 5 s per series (a grading times up to three series per shape).
    pub const GPU: StoppingRule = StoppingRule {
        warmup: 3,
        min_samples: 10,
        target_relative_error: 0.01,
        max_samples: 500,
        time_cap: Duration::from_secs(5),
    };

    /// Whether to stop after `samples` timed runs that took `elapsed` in all (None: go on).
    pub fn stop(&self, samples: &[f64], elapsed: Duration) -> Option<Stop> {
        if samples.len() >= self.max_samples || elapsed >= self.time_cap {
            return Some(Stop::Capped);
        }
        if samples.len() < self.min_samples {
            return None;
        }
        let precise = Summary::of(samples)
            .is_some_and(|s| s.relative_standard_error < self.target_relative_error);
        precise.then_some(Stop::Precise)
    }
}

/// Bytes per millisecond a device-to-device copy of `bytes` in `copy_ms` achieved, counting
/// both its read and its write.
pub fn copy_bandwidth(bytes: u64, copy_ms: f64) -> f64 {
    2.0 * bytes as f64 / copy_ms
}

/// Share of the speed-of-light time a measurement may undercut before it is called impossible:
/// a kernel that only reads can stream somewhat faster than a copy's mixed reads and writes.
pub const FLOOR_TOLERANCE: f64 = 0.75;

/// The speed-of-light floor: no kernel that must read `bytes_moved` bytes can take less than
/// `bytes_moved / bandwidth` milliseconds (`bandwidth` from [`copy_bandwidth`]).
pub fn memory_floor_ms(bytes_moved: u64, bandwidth: f64) -> f64 {
    bytes_moved as f64 / bandwidth
}

/// Whether `ms` is below what the memory allows (`floor_ms` × [`FLOOR_TOLERANCE`]): an
/// impossible result — a cached or skipped computation, or a forged time.
pub fn faster_than_memory_bound(ms: f64, floor_ms: f64) -> bool {
    ms < floor_ms * FLOOR_TOLERANCE
}

/// A speed-up over the judge's own reference kernel above this is flagged for review.
pub const SUSPICIOUS_SPEEDUP: f64 = 10.0;

/// Whether `ms` is more than [`SUSPICIOUS_SPEEDUP`] times faster than `reference_ms`.
pub fn suspiciously_fast(ms: f64, reference_ms: f64) -> bool {
    ms * SUSPICIOUS_SPEEDUP < reference_ms
}

/// The time of one repetition the judge believes: what the timed process claims (its CUDA
/// events), but never less than the judge's own clock allows — the round trip `span_ms` the
/// judge measured around the repetition, less the `overhead_ms` such a round trip costs
/// without the kernel (measured on the judge's baseline process, whose claims are its own).
pub fn corroborated_ms(claimed_ms: f64, span_ms: f64, overhead_ms: f64) -> f64 {
    claimed_ms.max(span_ms - overhead_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_median_quartiles_and_relative_standard_error() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!(
            (s.median, s.q1, s.q3, s.min, s.max),
            (3.0, 2.0, 4.0, 1.0, 5.0)
        );
        assert_eq!(s.mean, 3.0);
        // s = √2.5, SE = s/√5, RSE = SE/3.
        let expected = (2.5f64).sqrt() / 5f64.sqrt() / 3.0;
        assert!((s.relative_standard_error - expected).abs() < 1e-12);
        let even = Summary::of(&[1.0, 2.0, 3.0, 10.0]).unwrap();
        assert_eq!(even.median, 2.5);
        assert_eq!(even.q3, 4.75);
    }

    #[test]
    fn empty_or_non_finite_series_have_no_summary() {
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
        assert!(Summary::of(&[1.0, f64::INFINITY]).is_none());
        assert_eq!(
            Summary::of(&[2.0]).unwrap().relative_standard_error,
            f64::INFINITY
        );
    }

    const RULE: StoppingRule = StoppingRule {
        warmup: 1,
        min_samples: 5,
        target_relative_error: 0.01,
        max_samples: 50,
        time_cap: Duration::from_secs(2),
    };

    #[test]
    fn a_steady_series_stops_at_the_target_precision_but_not_before_the_minimum() {
        let steady = [1.000, 1.001, 0.999, 1.000, 1.002, 0.998];
        let second = Duration::from_secs(1);
        assert_eq!(RULE.stop(&steady[..4], second), None);
        assert_eq!(RULE.stop(&steady, second), Some(Stop::Precise));
    }

    #[test]
    fn a_noisy_series_goes_on_until_a_cap() {
        let noisy: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 1.0 } else { 2.0 })
            .collect();
        // RSE of alternating 1, 2 over 20 runs ≈ 0.51/√20/1.5 ≈ 7.6%: not precise.
        assert_eq!(RULE.stop(&noisy, Duration::from_millis(10)), None);
        assert_eq!(
            RULE.stop(&noisy, Duration::from_secs(2)),
            Some(Stop::Capped)
        );
        let many: Vec<f64> = noisy.iter().cycle().take(50).copied().collect();
        assert_eq!(RULE.stop(&many, Duration::ZERO), Some(Stop::Capped));
    }

    #[test]
    fn the_floor_is_the_bytes_at_copy_bandwidth_and_undercutting_it_is_impossible() {
        // 1 GB copied in 0.5 ms: 2 GB moved, 4e9 B/ms. Reading 1 GB then takes ≥ 0.25 ms.
        let bandwidth = copy_bandwidth(1_000_000_000, 0.5);
        assert_eq!(bandwidth, 4e9);
        let floor = memory_floor_ms(1_000_000_000, bandwidth);
        assert_eq!(floor, 0.25);
        assert!(!faster_than_memory_bound(0.26, floor));
        // A read-only kernel somewhat faster than half a copy is plausible…
        assert!(!faster_than_memory_bound(0.2, floor));
        // …one at a third of the floor is not.
        assert!(faster_than_memory_bound(0.08, floor));
    }

    #[test]
    fn more_than_ten_times_the_reference_is_flagged() {
        assert!(!suspiciously_fast(0.2, 1.0));
        assert!(!suspiciously_fast(0.1, 1.0));
        assert!(suspiciously_fast(0.09, 1.0));
    }

    #[test]
    fn a_claim_below_the_judges_clock_is_raised_to_it() {
        // Honest: the claim explains the span.
        assert_eq!(corroborated_ms(0.50, 0.62, 0.15), 0.50);
        // Forged: 0.01 ms claimed, but the round trip took 0.65 ms with 0.15 ms of overhead.
        assert_eq!(corroborated_ms(0.01, 0.65, 0.15), 0.5);
    }
}
