//! The CUDA sources, embedded in the binary so that a `judge` carried to a GPU machine needs no
//! checkout. Files (under `reference/fuse/cuda/`):
//!
//! - `softmax_topk_device.cuh` — device building blocks (online softmax, candidate keys, the
//!   block-wide candidate buffer, row streaming); no `#include`, so NVRTC takes it as is.
//! - `fused_softmax_topk.cu` — `fused_softmax_topk_kernel`, one block per row.
//! - `naive_softmax_topk.cu` — `naive_softmax_kernel` + `naive_topk_kernel`, the unfused baseline.
//! - `fused_softmax_topk_host.cu`, `naive_softmax_topk_host.cu` — the `extern "C"` entry points
//!   (`cuda_runtime.h`, `<<<>>>`), for nvcc shared-library builds only.

use std::path::Path;

/// Threads per block (`FUSE_BLOCK_THREADS`): the launch configuration must match the kernel.
pub const BLOCK_THREADS: u32 = 256;
/// Largest k the kernels support (`FUSE_MAX_K`).
pub const MAX_K: usize = 256;

const DEVICE_HEADER_NAME: &str = "softmax_topk_device.cuh";
const DEVICE_HEADER: &str = include_str!("../../cuda/softmax_topk_device.cuh");

/// Every source file, by name, as it is in the crate.
pub const FILES: [(&str, &str); 5] = [
    (DEVICE_HEADER_NAME, DEVICE_HEADER),
    (
        "fused_softmax_topk.cu",
        include_str!("../../cuda/fused_softmax_topk.cu"),
    ),
    (
        "naive_softmax_topk.cu",
        include_str!("../../cuda/naive_softmax_topk.cu"),
    ),
    (
        "fused_softmax_topk_host.cu",
        include_str!("../../cuda/fused_softmax_topk_host.cu"),
    ),
    (
        "naive_softmax_topk_host.cu",
        include_str!("../../cuda/naive_softmax_topk_host.cu"),
    ),
];

/// A kernel translation unit: what is compiled to PTX and which kernels it defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelUnit {
    /// `fused_softmax_topk.cu`: the fused kernel.
    Fused,
    /// `naive_softmax_topk.cu`: the naive softmax and top-k kernels.
    Naive,
}

impl KernelUnit {
    /// The `.cu` file name.
    pub fn file_name(self) -> &'static str {
        match self {
            KernelUnit::Fused => "fused_softmax_topk.cu",
            KernelUnit::Naive => "naive_softmax_topk.cu",
        }
    }

    /// The `extern "C" __global__` kernels it defines.
    pub fn kernel_names(self) -> &'static [&'static str] {
        match self {
            KernelUnit::Fused => &["fused_softmax_topk_kernel"],
            KernelUnit::Naive => &["naive_softmax_kernel", "naive_topk_kernel"],
        }
    }

    /// The source with the device header pasted in place of its `#include`, for NVRTC (which
    /// would otherwise need the header on disk).
    pub fn self_contained_source(self) -> String {
        let include = format!("#include \"{DEVICE_HEADER_NAME}\"");
        file_text(self.file_name()).replacen(&include, DEVICE_HEADER, 1)
    }
}

/// The shared-library entry points built from the host files with nvcc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEntry {
    /// `fused_softmax_topk` from `fused_softmax_topk_host.cu`: the submission interface.
    Fused,
    /// `naive_softmax_topk` from `naive_softmax_topk_host.cu`: same signature, materialises softmax.
    Naive,
}

impl HostEntry {
    /// The host `.cu` file that defines the entry point.
    pub fn file_name(self) -> &'static str {
        match self {
            HostEntry::Fused => "fused_softmax_topk_host.cu",
            HostEntry::Naive => "naive_softmax_topk_host.cu",
        }
    }

    /// The exported C symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            HostEntry::Fused => "fused_softmax_topk",
            HostEntry::Naive => "naive_softmax_topk",
        }
    }
}

fn file_text(name: &str) -> &'static str {
    FILES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| *text)
        .expect("every KernelUnit and HostEntry names a file of FILES")
}

/// Writes every source file into `dir` (for nvcc, which compiles files and resolves `#include`).
pub fn write_sources(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in FILES {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The launch configuration and the limit checks in Rust must match the kernel's defines.
    #[test]
    fn rust_constants_match_the_kernel_defines() {
        assert!(DEVICE_HEADER.contains(&format!("#define FUSE_BLOCK_THREADS {BLOCK_THREADS} ")));
        assert!(DEVICE_HEADER.contains(&format!("#define FUSE_MAX_K {MAX_K} ")));
    }

    #[test]
    fn self_contained_sources_have_no_includes_left() {
        for unit in [KernelUnit::Fused, KernelUnit::Naive] {
            let source = unit.self_contained_source();
            assert!(
                !source
                    .lines()
                    .any(|line| line.trim_start().starts_with("#include")),
                "{} still includes a file",
                unit.file_name()
            );
            for kernel in unit.kernel_names() {
                assert!(source.contains(&format!("{kernel}(")), "{kernel} missing");
            }
        }
    }
}
