//! `judge reference flash_attention_bwd`: the Rust reference passes every auto criterion. In a
//! test binary of its own, because the memory criteria read a process-wide allocation counter
//! that the submission tests' expected-value computations would disturb.

use grader_flash_attention_bwd::FlashAttentionBwdGrader;
use grader_testkit::{assert_all_auto_pass, grade_reference};
use judge_heap::CountingAllocator;

/// The reference's memory criteria measure its heap with the same allocator `judge` installs.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_reference_passes_every_auto_criterion() {
    let report = grade_reference(&FlashAttentionBwdGrader, 20261127);
    assert_all_auto_pass(&report);
}
