//! Peak heap measurement for in-process candidates (our Rust references).
//!
//! A submission's memory is measured inside its sandbox (tracemalloc) and enforced from outside
//! (address-space limit). The references run in the judge process, so their equivalent is a
//! counting global allocator: the binary installs [`CountingAllocator`], and memory criteria
//! call [`measure_peak`], which counts the calling thread's allocations only. Where it is not
//! installed, `measure_peak` says so instead of guessing.

#![warn(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    // Per thread, so that what other threads allocate meanwhile (tests running in parallel,
    // other gradings under --jobs) never lands in a measurement. Signed: a thread may free
    // what another allocated. `const` and without Drop: no allocation, no destructor, safe to
    // touch from inside the allocator.
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// The system allocator plus two counters per thread: bytes live now and the high-water mark.
/// Install with `#[global_allocator] static A: CountingAllocator = CountingAllocator;`.
pub struct CountingAllocator;

fn on_alloc(size: usize) {
    let _ = CURRENT.try_with(|current| {
        let now = current.get().wrapping_add(size as isize);
        current.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn on_free(size: usize) {
    let _ = CURRENT.try_with(|current| current.set(current.get().wrapping_sub(size as isize)));
}

// SAFETY: every method forwards to `System` unchanged; the counters never affect allocation.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            on_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            on_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        on_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            on_free(layout.size());
            on_alloc(new_size);
        }
        new
    }
}

/// Runs `f` and returns the peak of live heap bytes it allocated on this thread, above what
/// was live at the start — `None` when no [`CountingAllocator`] is installed. Only the calling
/// thread counts: the references measured this way run sequentially on it, and allocations of
/// other threads meanwhile must not be charged to them.
pub fn measure_peak<R>(f: impl FnOnce() -> R) -> (R, Option<u64>) {
    let baseline = CURRENT.with(Cell::get);
    PEAK.with(|peak| peak.set(baseline));
    let result = f();
    let peak = PEAK.with(Cell::get);
    let installed = INSTALLED.load(Ordering::Relaxed);
    (
        result,
        installed.then(|| peak.saturating_sub(baseline).max(0) as u64),
    )
}
