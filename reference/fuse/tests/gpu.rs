//! The CUDA kernels on a real GPU against the CPU reference. Without a driver or device every
//! test prints why it skipped and passes; with one, they must agree. With `FUSE_REQUIRE_GPU` set
//! (scripts/gpu-check.sh sets it) a missing GPU or compiler is a failure instead.

use fuse::cases::{Trap, random_logits, trap_rows};
use fuse::cuda::{
    CudaError, FuseKernels, GpuSession, HostEntry, PtxCompiler, SharedLibraryKernel,
    build_shared_library, find_nvcc,
};
use fuse::fused_softmax_topk;

/// The GPU sums l in f32 in another order than the f64 reference: 1e-4 relative is ample.
const ABS_TOL: f32 = 1e-7;
const REL_TOL: f32 = 1e-4;

/// Prints why a test skips; fails instead when the environment demands a GPU.
fn skip(reason: &str) {
    assert!(
        std::env::var_os("FUSE_REQUIRE_GPU").is_none(),
        "FUSE_REQUIRE_GPU is set but: {reason}"
    );
    eprintln!("skipped: {reason}");
}

fn open() -> Option<GpuSession> {
    match GpuSession::open(0) {
        Ok(session) => Some(session),
        Err(CudaError::GpuUnavailable { reason }) => {
            skip(&reason);
            None
        }
        Err(other) => panic!("{other}"),
    }
}

fn kernels(session: &GpuSession) -> Option<FuseKernels> {
    match PtxCompiler::detect(None) {
        Ok(compiler) => {
            Some(FuseKernels::load(session, compiler).unwrap_or_else(|e| panic!("{e}")))
        }
        Err(CudaError::CompilerUnavailable { reason }) => {
            skip(&reason);
            None
        }
        Err(other) => panic!("{other}"),
    }
}

/// Random rows followed by one row of every trap.
fn cases(seed: u64, random_rows: usize, vocab: usize) -> (Vec<f32>, usize) {
    let mut logits = random_logits(seed, random_rows, vocab, 8.0);
    logits.extend(trap_rows(seed, vocab));
    (logits, random_rows + Trap::ALL.len())
}

#[test]
fn fused_kernel_matches_the_cpu_reference() {
    let Some(session) = open() else { return };
    let Some(kernels) = kernels(&session) else {
        return;
    };
    for &(random_rows, vocab) in &[(6, 1), (6, 7), (30, 1000), (12, 50_257), (3, 151_936)] {
        let (logits, rows) = cases(vocab as u64, random_rows, vocab);
        for &k in &[1, 5, 8, 50, 256] {
            if k > vocab {
                continue;
            }
            let expected = fused_softmax_topk(&logits, rows, vocab, k).expect("valid input");
            let actual = kernels
                .run_fused(&session, &logits, rows, vocab, k)
                .unwrap_or_else(|e| panic!("{e}"));
            if let Some(mismatch) = expected.first_mismatch(&actual, ABS_TOL, REL_TOL) {
                panic!("{} vocab {vocab} k {k}: {mismatch}", kernels.compiler());
            }
        }
    }
}

#[test]
fn naive_baseline_matches_on_rows_without_ties() {
    let Some(session) = open() else { return };
    let Some(kernels) = kernels(&session) else {
        return;
    };
    let (rows, vocab) = (9, 50_257);
    // Ties in probability (underflow) are ordered by index there, by logit in the reference:
    // compare on ordinary rows only.
    let logits = random_logits(61, rows, vocab, 8.0);
    for k in [1, 50] {
        let expected = fused_softmax_topk(&logits, rows, vocab, k).expect("valid input");
        let actual = kernels
            .run_naive(&session, &logits, rows, vocab, k)
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(mismatch) = expected.first_mismatch(&actual, ABS_TOL, REL_TOL) {
            panic!("naive, k {k}: {mismatch}");
        }
    }
}

#[test]
fn shared_library_entry_point_matches_the_cpu_reference() {
    let Some(session) = open() else { return };
    let Some(nvcc) = find_nvcc(None) else {
        skip("no nvcc to build the shared library");
        return;
    };
    let target = session
        .compute_capability()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = tempfile::tempdir().expect("temporary directory");
    let library = build_shared_library(&nvcc, HostEntry::Fused, target, out.path())
        .unwrap_or_else(|e| panic!("{e}"));
    // SAFETY: our own library with the EntryPoint signature.
    let kernel = unsafe { SharedLibraryKernel::load(&library, HostEntry::Fused.symbol()) }
        .unwrap_or_else(|e| panic!("{e}"));
    let (logits, rows) = cases(62, 18, 50_257);
    let vocab = 50_257;
    for k in [1, 8, 50] {
        let expected = fused_softmax_topk(&logits, rows, vocab, k).expect("valid input");
        let actual = kernel
            .run(&session, &logits, rows, vocab, k)
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(mismatch) = expected.first_mismatch(&actual, ABS_TOL, REL_TOL) {
            panic!("shared library, k {k}: {mismatch}");
        }
    }
}
