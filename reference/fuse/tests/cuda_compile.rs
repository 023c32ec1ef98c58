//! The kernels compile — through NVRTC and through nvcc, whichever this machine has — and the
//! nvcc-built shared library exports the C interface and refuses bad arguments. No GPU needed;
//! a missing compiler is reported and the check skipped, never failed.

use std::ffi::c_int;
use std::path::PathBuf;

use fuse::cuda::{
    ComputeCapability, CudaError, HostEntry, KernelUnit, PtxCompiler, SharedLibraryKernel,
    build_shared_library, compile_shared_library, find_nvcc, nvrtc_available,
};

const CUDA_ERROR_INVALID_VALUE: c_int = 1;

fn assert_defines_kernels(ptx: &str, unit: KernelUnit, compiler: &PtxCompiler) {
    for kernel in unit.kernel_names() {
        assert!(
            ptx.contains(&format!(".entry {kernel}(")),
            "{compiler}: {kernel} missing from the PTX of {}",
            unit.file_name()
        );
    }
}

#[test]
fn kernels_compile_with_nvrtc() {
    if let Err(reason) = nvrtc_available() {
        eprintln!("skipped: {reason}");
        return;
    }
    for unit in [KernelUnit::Fused, KernelUnit::Naive] {
        let ptx = PtxCompiler::Nvrtc
            .compile(unit, ComputeCapability::PORTABLE)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_defines_kernels(&ptx.to_src(), unit, &PtxCompiler::Nvrtc);
    }
}

#[test]
fn kernels_compile_with_nvcc() {
    let Some(nvcc) = find_nvcc(None) else {
        eprintln!("skipped: no nvcc under $CUDA_HOME, $CUDA_PATH, $PATH or /usr/local/cuda");
        return;
    };
    let compiler = PtxCompiler::Nvcc(nvcc);
    for unit in [KernelUnit::Fused, KernelUnit::Naive] {
        let ptx = compiler
            .compile(unit, ComputeCapability::PORTABLE)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_defines_kernels(&ptx.to_src(), unit, &compiler);
    }
}

#[test]
fn shared_library_exports_the_interface_and_validates_arguments() {
    let Some(nvcc) = find_nvcc(None) else {
        eprintln!("skipped: no nvcc under $CUDA_HOME, $CUDA_PATH, $PATH or /usr/local/cuda");
        return;
    };
    let out = tempfile::tempdir().expect("temporary directory");
    for entry in [HostEntry::Fused, HostEntry::Naive] {
        let library: PathBuf = build_shared_library(
            &nvcc,
            entry,
            ComputeCapability { major: 9, minor: 0 },
            out.path(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: our own library, whose entry point has the EntryPoint signature.
        let kernel = unsafe { SharedLibraryKernel::load(&library, entry.symbol()) }
            .unwrap_or_else(|e| panic!("{e}"));
        let null = std::ptr::null_mut();
        // Each call is refused (or is a no-op) before any CUDA call, so no GPU is touched.
        for (rows, vocab, k, expected) in [
            (4, 1000, 257, CUDA_ERROR_INVALID_VALUE), // above FUSE_MAX_K
            (4, 10, 11, CUDA_ERROR_INVALID_VALUE),    // k > vocab
            (4, 10, 0, CUDA_ERROR_INVALID_VALUE),     // k < 1
            (-1, 10, 1, CUDA_ERROR_INVALID_VALUE),    // negative rows
            (4, 10, 1, CUDA_ERROR_INVALID_VALUE),     // null pointers
            (0, 10, 1, 0),                            // nothing to do
        ] {
            // SAFETY: the arguments are rejected before any pointer is used.
            let code = unsafe {
                (kernel.entry_point())(
                    null,
                    rows,
                    vocab,
                    k,
                    null.cast(),
                    null,
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(
                code,
                expected,
                "{}: rows {rows}, vocab {vocab}, k {k}",
                entry.symbol()
            );
        }
    }
}

#[test]
fn a_source_that_does_not_compile_is_an_nvcc_error_with_its_message() {
    let Some(nvcc) = find_nvcc(None) else {
        eprintln!("skipped: no nvcc under $CUDA_HOME, $CUDA_PATH, $PATH or /usr/local/cuda");
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let source = dir.path().join("broken.cu");
    std::fs::write(
        &source,
        "extern \"C\" int fused_softmax_topk(const float* logits) { return undeclared; }\n",
    )
    .expect("write the source");
    match compile_shared_library(
        &nvcc,
        &source,
        ComputeCapability::PORTABLE,
        &dir.path().join("libbroken.so"),
    ) {
        Err(CudaError::Nvcc { stderr, .. }) => {
            assert!(stderr.contains("undeclared"), "nvcc said: {stderr}")
        }
        other => panic!("expected an nvcc error, got {other:?}"),
    }
}
