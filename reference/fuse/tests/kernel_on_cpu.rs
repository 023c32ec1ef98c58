//! The CUDA kernel source, run on CPU threads through `cuda/emulation/cuda_on_cpu.h` (one OS
//! thread per CUDA thread; barriers, ballots and shuffles emulated), against the CPU reference.
//! This checks the kernel's logic — the candidate buffer, its threshold and refills, the bitonic
//! sort, the (m, l) warp and block merges, the unaligned head/tail — on machines with no GPU.
//! Needs a C++20 compiler ($CXX, c++, g++ or clang++); without one it prints why and skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fuse::cases::{Trap, random_logits, trap_rows};
use fuse::{TopK, fused_softmax_topk};

const ABS_TOL: f32 = 1e-7;
const REL_TOL: f32 = 1e-4;

fn cxx_candidates() -> Vec<String> {
    std::env::var("CXX")
        .into_iter()
        .chain(["c++", "g++", "clang++"].map(String::from))
        .collect()
}

/// How the emulator is built: plain, or with ThreadSanitizer watching every shared-memory access.
#[derive(Clone, Copy, PartialEq)]
enum Build {
    Plain,
    ThreadSanitizer,
}

impl Build {
    fn flags(self) -> &'static [&'static str] {
        match self {
            Build::Plain => &["-O2"],
            Build::ThreadSanitizer => &["-O1", "-g", "-fsanitize=thread"],
        }
    }
}

/// Builds the emulated kernels with `threads` per block, or says why it cannot.
fn build_emulator(dir: &Path, threads: u32, build: Build) -> Result<PathBuf, String> {
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cuda/emulation/run_kernels_on_cpu.cpp");
    let probe = dir.join("probe.cpp");
    std::fs::write(
        &probe,
        "#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); }\n",
    )
    .map_err(|e| e.to_string())?;
    let cxx = cxx_candidates()
        .into_iter()
        .find(|cxx| {
            Command::new(cxx)
                .args(["-std=c++20", "-pthread"])
                .args(build.flags())
                .arg("-o")
                .arg(dir.join("probe"))
                .arg(&probe)
                .output()
                .is_ok_and(|out| {
                    out.status.success()
                        && Command::new(dir.join("probe"))
                            .status()
                            .is_ok_and(|s| s.success())
                })
        })
        .ok_or(match build {
            Build::Plain => "no C++20 compiler with <barrier> ($CXX, c++, g++, clang++)",
            Build::ThreadSanitizer => {
                "no C++20 compiler with a working -fsanitize=thread ($CXX, c++, g++, clang++)"
            }
        })?;
    let binary = dir.join(format!("kernels_on_cpu_{threads}"));
    let output = Command::new(&cxx)
        .args([
            "-std=c++20",
            "-pthread",
            "-Wall",
            "-Wextra",
            "-Wno-unknown-pragmas",
            "-Werror",
        ])
        .args(build.flags())
        .arg(format!("-DFUSE_BLOCK_THREADS={threads}"))
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("the compiler ran for the probe");
    // The compiler works (the probe built): a failure here is the kernel source's fault.
    assert!(
        output.status.success(),
        "{cxx} could not build the kernel source:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(binary)
}

/// Runs `mode` ("fused" or "naive") on the emulator, logits placed `offset` floats past a
/// 16-byte boundary.
fn run(
    emulator: &Path,
    mode: &str,
    logits: &[f32],
    rows: usize,
    vocab: usize,
    k: usize,
    offset: usize,
) -> TopK {
    let mut child = Command::new(emulator)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("emulator starts");
    let mut input = format!("{mode} {rows} {vocab} {k} {offset}\n").into_bytes();
    input.extend(logits.iter().flat_map(|x| x.to_le_bytes()));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(&input)
        .expect("emulator reads its input");
    let output = child.wait_with_output().expect("emulator finishes");
    assert!(
        output.status.success(),
        "emulator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (idx_bytes, prob_bytes) = output.stdout.split_at(4 * rows * k);
    let word = |chunk: &[u8]| <[u8; 4]>::try_from(chunk).expect("4-byte chunks");
    TopK {
        rows,
        k,
        indices: idx_bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(word(c)))
            .collect(),
        probs: prob_bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(word(c)))
            .collect(),
    }
}

fn assert_kernel_agrees(
    emulator: &Path,
    logits: &[f32],
    rows: usize,
    vocab: usize,
    k: usize,
    offset: usize,
) {
    let expected = fused_softmax_topk(logits, rows, vocab, k).expect("valid input");
    let actual = run(emulator, "fused", logits, rows, vocab, k, offset);
    if let Some(mismatch) = expected.first_mismatch(&actual, ABS_TOL, REL_TOL) {
        panic!("fused kernel, vocab {vocab}, k {k}, offset {offset}: {mismatch}");
    }
}

#[test]
fn emulated_kernel_with_64_threads_matches_the_reference() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let emulator = match build_emulator(dir.path(), 64, Build::Plain) {
        Ok(binary) => binary,
        Err(reason) => return eprintln!("skipped: {reason}"),
    };
    for (case, &(rows, vocab, ref ks)) in [
        (3, 1, vec![1]),
        (5, 7, vec![1, 3, 7]),
        (6, 1000, vec![1, 5, 50]),
        (3, 5000, vec![256]),
        (2, 20_000, vec![50]),
    ]
    .iter()
    .enumerate()
    {
        let logits = random_logits(case as u64, rows, vocab, 8.0);
        for &k in ks {
            assert_kernel_agrees(&emulator, &logits, rows, vocab, k, case % 4);
        }
    }
    let traps = trap_rows(64, 600);
    for (offset, k) in [(1, 1), (2, 50), (3, 256)] {
        assert_kernel_agrees(&emulator, &traps, Trap::ALL.len(), 600, k, offset);
    }
    // The naive pair (softmax to a buffer, then top-k) on rows without probability ties.
    let logits = random_logits(65, 3, 3001, 8.0);
    let expected = fused_softmax_topk(&logits, 3, 3001, 50).expect("valid input");
    let actual = run(&emulator, "naive", &logits, 3, 3001, 50, 2);
    if let Some(mismatch) = expected.first_mismatch(&actual, ABS_TOL, REL_TOL) {
        panic!("naive kernels: {mismatch}");
    }
}

#[test]
fn emulated_kernel_with_256_threads_matches_the_reference() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let emulator = match build_emulator(dir.path(), 256, Build::Plain) {
        Ok(binary) => binary,
        Err(reason) => return eprintln!("skipped: {reason}"),
    };
    let logits = random_logits(256, 1, 20_011, 8.0);
    assert_kernel_agrees(&emulator, &logits, 1, 20_011, 5, 1);
    let traps = trap_rows(257, 1031);
    assert_kernel_agrees(&emulator, &traps, Trap::ALL.len(), 1031, 256, 3);
}

/// ThreadSanitizer sees the emulated barriers and votes as synchronisation, so it reports any
/// shared-memory access of the kernel that no `__syncthreads` orders (the run then fails).
#[test]
fn emulated_kernel_has_no_unsynchronised_shared_memory_access() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let emulator = match build_emulator(dir.path(), 64, Build::ThreadSanitizer) {
        Ok(binary) => binary,
        Err(reason) => return eprintln!("skipped: {reason}"),
    };
    let logits = random_logits(66, 2, 3001, 8.0);
    assert_kernel_agrees(&emulator, &logits, 2, 3001, 50, 1);
    let traps = trap_rows(67, 300);
    assert_kernel_agrees(&emulator, &traps, Trap::ALL.len(), 300, 256, 2);
}
