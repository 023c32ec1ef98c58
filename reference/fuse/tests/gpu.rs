//! The CUDA kernels on a real GPU against the CPU reference. Without a driver or device every
//! test prints why it skipped and passes; with one, they must agree. With `FUSE_REQUIRE_GPU` set
//! (scripts/gpu-check.sh sets it) a missing GPU or compiler is a failure instead.

use fuse::cuda::{
    CudaError, FuseKernels, GpuSession, HostEntry, PtxCompiler, SharedLibraryKernel,
    build_shared_library, find_nvcc,
};
use fuse::fused_softmax_topk;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The GPU computes (m, l) in f32 with a different summation order: compare to 1e-5 relative.
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

/// Random rows plus the traps: −inf entries, a row of −inf, equal logits, ±1e4, ascending order.
fn cases(rng: &mut StdRng, rows: usize, vocab: usize) -> Vec<f32> {
    let mut logits: Vec<f32> = (0..rows * vocab)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * 8.0)
        .collect();
    for (row, x) in logits.chunks_exact_mut(vocab).enumerate() {
        match row % 6 {
            1 => x.iter_mut().for_each(|v| {
                *v = if rng.random::<f32>() < 0.9 {
                    f32::NEG_INFINITY
                } else {
                    *v
                }
            }),
            2 => x.fill(f32::NEG_INFINITY),
            3 => x.fill(0.25),
            4 => x.iter_mut().for_each(|v| *v *= 1250.0),
            5 => x
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = i as f32 * 1e-3),
            _ => {}
        }
    }
    logits
}

#[test]
fn fused_kernel_matches_the_cpu_reference() {
    let Some(session) = open() else { return };
    let Some(kernels) = kernels(&session) else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(60);
    for &(rows, vocab) in &[(13, 1), (13, 7), (37, 1000), (19, 50_257), (7, 151_936)] {
        let logits = cases(&mut rng, rows, vocab);
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
    let mut rng = StdRng::seed_from_u64(61);
    let (rows, vocab) = (9, 50_257);
    // Ties in probability (underflow) are ordered by index there, by logit in the reference:
    // compare on ordinary rows only.
    let logits: Vec<f32> = (0..rows * vocab)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * 8.0)
        .collect();
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
    let mut rng = StdRng::seed_from_u64(62);
    let (rows, vocab) = (25, 50_257);
    let logits = cases(&mut rng, rows, vocab);
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
