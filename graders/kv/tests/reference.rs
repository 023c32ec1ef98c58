//! The reference passes every auto criterion. In its own test binary: the memory criterion
//! reads the process-wide counting allocator, which tests running in parallel threads would
//! disturb.

use grader_kv::KvGrader;
use grader_testkit::{assert_all_auto_pass, grade_reference};
use judge_heap::CountingAllocator;

/// The reference's memory criterion measures its heap with the same allocator `judge` installs.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_reference_passes_every_auto_criterion() {
    let report = grade_reference(&KvGrader, 20261127);
    assert_all_auto_pass(&report);
}
