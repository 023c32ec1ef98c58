//! Resource limits of one sandboxed submission.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one sandboxed submission may use. Every limit is enforced from outside the
/// submission's process (by the kernel or by the judge's clock), so it cannot be faked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest a single worker call may run; past it the whole sandbox is killed.
    pub call_timeout: Duration,
    /// Longest the sandbox may live in all (a worker's every call, or a whole script).
    pub total_timeout: Duration,
    /// Address space of each sandboxed process (`RLIMIT_AS`). An allocation beyond it fails
    /// (Python raises `MemoryError`) instead of pushing the machine into swap.
    /// `u64::MAX` means unlimited (CUDA programs reserve far more address space than they use).
    pub memory_bytes: u64,
    /// Processes and threads the sandbox user may have at once (`RLIMIT_NPROC`). Only enforced
    /// when the sandbox runs under its own unprivileged uid, see
    /// [`SandboxCapabilities::process_limit`](crate::SandboxCapabilities::process_limit).
    pub max_processes: u64,
    /// Bytes kept of stdout and of stderr each (the last ones); the rest is only counted.
    pub output_cap_bytes: usize,
    /// Largest file a sandboxed process may write (`RLIMIT_FSIZE`), so a runaway writer
    /// cannot fill the disk.
    pub file_size_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(900),
            memory_bytes: 4 << 30,
            max_processes: 64,
            output_cap_bytes: 64 << 10,
            file_size_bytes: 1 << 30,
        }
    }
}
