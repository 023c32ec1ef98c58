//! Neither pass ever allocates an N × N buffer: the peak heap of a call at N = 4096, T = 128,
//! less its inputs and outputs, stays under 5% of one N × N f64 matrix.
//!
//! A counting global allocator sees every allocation in this test binary, which is why this test
//! has a file of its own and the file has a single test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use flash_attention::{FlashAttention, Parallelism};
use ndarray::Array4;

/// The system allocator, keeping count of the bytes live now and the most live since a reset.
struct PeakCounting {
    live: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: forwards every call to `System` unchanged; the counters do not affect allocation.
unsafe impl GlobalAlloc for PeakCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = self.live.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            self.peak.fetch_max(live, Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        self.live.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: PeakCounting = PeakCounting {
    live: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
};

/// Runs `call` and returns its result with the peak heap growth during it, in bytes.
fn peak_growth<T>(call: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATOR.live.load(Ordering::SeqCst);
    ALLOCATOR.peak.store(before, Ordering::SeqCst);
    let result = call();
    (result, ALLOCATOR.peak.load(Ordering::SeqCst) - before)
}

#[test]
fn peak_heap_is_a_small_fraction_of_one_n_by_n_matrix() {
    const N: usize = 4096;
    const D: usize = 64;
    const TILE: usize = 128;
    let bytes = std::mem::size_of::<f64>();
    let limit = N * N * bytes / 20;
    let input = |seed: usize| {
        Array4::from_shape_fn((1, 1, N, D), |(_, _, i, d)| {
            ((i * 31 + d * 17 + seed) % 97) as f64 / 97.0 - 0.5
        })
    };
    let (q, k, v, d_o) = (input(0), input(1), input(2), input(3));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();

    for parallelism in [Parallelism::Sequential, Parallelism::Rayon] {
        let attention = FlashAttention::new(TILE, true).with_parallelism(parallelism);
        let (fwd, forward_peak) = pool
            .install(|| peak_growth(|| attention.forward(q.view(), k.view(), v.view()).unwrap()));
        let forward_outputs = (fwd.o.len() + fwd.lse.len()) * bytes;
        let forward_extra = forward_peak - forward_outputs;

        let (grads, backward_peak) = pool.install(|| {
            peak_growth(|| {
                attention
                    .backward(
                        d_o.view(),
                        q.view(),
                        k.view(),
                        v.view(),
                        fwd.o.view(),
                        fwd.lse.view(),
                    )
                    .unwrap()
            })
        });
        let backward_outputs = (grads.dq.len() + grads.dk.len() + grads.dv.len()) * bytes;
        let backward_extra = backward_peak - backward_outputs;

        println!(
            "{parallelism:?}: extra heap forward {forward_extra} B, backward {backward_extra} B; limit {limit} B (5% of N×N f64)"
        );
        assert!(
            forward_extra < limit,
            "{parallelism:?} forward: {forward_extra} B beyond its outputs"
        );
        assert!(
            backward_extra < limit,
            "{parallelism:?} backward: {backward_extra} B beyond its outputs"
        );
    }
}
