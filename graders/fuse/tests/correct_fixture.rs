//! The `correct` fixture is the reference kernel (reference/fuse/cuda: the device header, the
//! fused kernel and its C entry point) pasted into the one file a submission hands in, under
//! notes that answer the manual criteria. It stays a real file because `judge examples` embeds
//! it and scripts/gpu-check.sh copies the fixture folders to the GPU machine; this test keeps it
//! the reference's code, so a fix of the reference that is not made in the fixture fails here.

mod mutations;

use std::path::Path;

use fuse::cuda::source::FILES;

/// The device header's include guard, which a single file does not need.
const INCLUDE_GUARD: &str = "FUSE_SOFTMAX_TOPK_DEVICE_CUH";

/// The reference files the fixture is made of, in the fixture's order.
const REFERENCE_PARTS: [&str; 3] = [
    "softmax_topk_device.cuh",
    "fused_softmax_topk.cu",
    "fused_softmax_topk_host.cu",
];

/// The code of a CUDA source: its lines without `//` comments, trailing blanks, blank lines,
/// `#include`s or the device header's include guard.
fn code_lines(source: &str) -> Vec<&str> {
    source
        .lines()
        .filter(|line| !line.contains(INCLUDE_GUARD))
        .map(|line| {
            line.split_once("//")
                .map_or(line, |(code, _)| code)
                .trim_end()
        })
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with("#include"))
        .collect()
}

#[test]
fn the_correct_fixture_is_the_reference_kernel_line_for_line() {
    let reference: Vec<&str> = REFERENCE_PARTS
        .iter()
        .flat_map(|part| {
            let (_, text) = FILES
                .iter()
                .find(|(name, _)| name == part)
                .unwrap_or_else(|| panic!("{part} is a reference source"));
            code_lines(text)
        })
        .collect();
    let path = Path::new(mutations::FIXTURES_DIR)
        .join("correct")
        .join(mutations::KERNEL_FILE);
    let fixture_text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fixture = code_lines(&fixture_text);
    let first_difference = reference
        .iter()
        .zip(&fixture)
        .position(|(a, b)| a != b)
        .unwrap_or(reference.len().min(fixture.len()));
    assert!(
        reference.len() == fixture.len() && first_difference == reference.len(),
        "{} is not the reference kernel: code line {} is {:?} there and {:?} in reference/fuse/cuda \
         ({} and {} code lines)",
        path.display(),
        first_difference + 1,
        fixture.get(first_difference),
        reference.get(first_difference),
        fixture.len(),
        reference.len(),
    );
}

#[test]
fn a_changed_code_line_is_a_difference_and_a_changed_comment_is_not() {
    let source = "#include <x.h>\nint a = 1; // one\n\n#ifndef FUSE_SOFTMAX_TOPK_DEVICE_CUH\n";
    assert_eq!(code_lines(source), ["int a = 1;"]);
    assert_eq!(
        code_lines("int a = 1; // another comment"),
        code_lines(source)
    );
    assert_ne!(code_lines("int a = 2;"), code_lines(source));
}
