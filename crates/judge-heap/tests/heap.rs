//! The counting allocator measures what a closure allocates, in its own test binary.

use judge_heap::{CountingAllocator, measure_peak};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn peak_covers_a_temporary_buffer_and_not_the_baseline() {
    let kept: Vec<u8> = vec![1; 1 << 20];
    let (sum, peak) = measure_peak(|| {
        let temporary = vec![1u64; 1 << 20]; // 8 MiB, freed before returning
        temporary.iter().sum::<u64>()
    });
    assert_eq!(sum, 1 << 20);
    let peak = peak.expect("installed in this binary");
    assert!(peak >= 8 << 20, "peak {peak}");
    assert!(
        peak < 9 << 20,
        "peak {peak} must not count the 1 MiB kept before"
    );
    drop(kept);
}

#[test]
fn what_another_thread_allocates_meanwhile_is_not_counted() {
    let (start, stop) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            start.wait();
            let other = vec![7u8; 64 << 20]; // 64 MiB on another thread, live during f
            stop.wait();
            drop(other);
        });
        let (_, peak) = measure_peak(|| {
            start.wait();
            let mine = vec![1u8; 1 << 20];
            stop.wait();
            mine.len()
        });
        let peak = peak.expect("installed in this binary");
        assert!((1 << 20..2 << 20).contains(&peak), "peak {peak}");
    });
}
