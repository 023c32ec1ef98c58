//! One grading at a time on a machine's GPU: the runtime criteria time kernels and hold the
//! device's free memory, so two gradings side by side (`judge grade --jobs N`) would measure
//! each other's load and starve each other's allocations.

use judge_core::Verdict;

/// An exclusive lock on a file in the temporary folder, released on drop.
pub struct GpuLock(std::fs::File);

impl GpuLock {
    /// Waits for the lock; why it could not be taken otherwise (grading then goes on, and
    /// [`noted`] says so in the evidence).
    pub fn acquire() -> Result<GpuLock, String> {
        let path = std::env::temp_dir().join("judge-fuse-gpu.lock");
        // Another user's judge may have created it: reading is enough to lock it.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .or_else(|_| std::fs::File::open(&path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(GpuLock(file))
    }
}

impl Drop for GpuLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// `verdict`, its evidence noting that the GPU was not held exclusively when `lock` failed.
pub fn noted(verdict: Verdict, lock: &Result<GpuLock, String>) -> Verdict {
    let Err(why) = lock else {
        return verdict;
    };
    let note = |evidence: String| format!("{evidence} (measured without the GPU lock: {why})");
    match verdict {
        Verdict::Pass { evidence } => Verdict::pass(note(evidence)),
        Verdict::Fail { evidence } => Verdict::fail(note(evidence)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_second_grading_waits_for_the_first_to_release_the_gpu() {
        let first = GpuLock::acquire().expect("the lock file opens");
        let second_has_it = std::sync::Arc::new(AtomicBool::new(false));
        let flag = second_has_it.clone();
        let second = std::thread::spawn(move || {
            let lock = GpuLock::acquire().expect("the lock file opens");
            flag.store(true, Ordering::SeqCst);
            drop(lock);
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !second_has_it.load(Ordering::SeqCst),
            "both held the lock at once"
        );
        drop(first);
        second.join().expect("the second grading ends");
        assert!(second_has_it.load(Ordering::SeqCst));
    }

    #[test]
    fn a_verdict_reached_without_the_lock_says_so() {
        let unlocked = Err("/tmp/x: permission denied".to_string());
        let verdict = noted(Verdict::pass("1.9×"), &unlocked);
        assert!(verdict.is_pass());
        assert!(
            verdict.detail().contains("without the GPU lock"),
            "{}",
            verdict.detail()
        );
    }
}
