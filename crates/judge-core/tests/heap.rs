//! The counting allocator measures what a closure allocates, in its own test binary.

use judge_core::heap::{CountingAllocator, measure_peak};

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
