//! The worker's resident memory, read by the judge from `/proc/<pid>`: a figure the
//! submission's interpreter cannot rewrite (tracemalloc's can be reset, stopped or bypassed
//! with `mmap`), and, as root, cannot reset either (Landlock keeps `/proc` read-only for it).

use std::fs;

/// Reads and resets the resident-set figures of one process.
#[derive(Debug, Clone, Copy)]
pub(super) struct ResidentMemory {
    pid: u32,
}

impl ResidentMemory {
    pub(super) fn of(pid: u32) -> ResidentMemory {
        ResidentMemory { pid }
    }

    /// Starts a new peak: the kernel's high-water mark (`VmHWM`) drops to the current RSS
    /// (`echo 5 > clear_refs`, Linux ≥ 4.0). Returns the RSS it starts from, or `None` when
    /// the peak could not be reset (then no peak of this call is trusted).
    pub(super) fn start_peak(&self) -> Option<u64> {
        fs::write(format!("/proc/{}/clear_refs", self.pid), "5").ok()?;
        self.current()
    }

    /// The RSS now.
    pub(super) fn current(&self) -> Option<u64> {
        self.field("VmRSS:")
    }

    /// The highest RSS since the last [`Self::start_peak`].
    pub(super) fn peak(&self) -> Option<u64> {
        self.field("VmHWM:")
    }

    fn field(&self, name: &str) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_its_peak_covers_its_current_size() {
        let me = ResidentMemory::of(std::process::id());
        let rss = me.current().expect("VmRSS of this process");
        let peak = me.peak().expect("VmHWM of this process");
        assert!(rss > 0 && peak >= rss, "rss {rss}, peak {peak}");
    }
}
