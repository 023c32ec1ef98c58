//! Per-call limits scaled to how loaded this machine is right now.

use std::sync::OnceLock;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_only_ever_lengthened_by_load() {
        let slowdown = machine_slowdown();
        assert!((1.0..=10.0).contains(&slowdown), "{slowdown}");
        assert_eq!(machine_slowdown(), slowdown, "measured once per process");
    }
}
