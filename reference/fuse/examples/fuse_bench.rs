//! GPU benchmark of the fused softmax + top-k kernel against the naive baseline (softmax written
//! to global memory, then top-k) and a device-to-device copy of the same bytes, all in one run.
//!
//!   cargo run --release -p fuse --example fuse_bench -- [--rows 4096] [--iterations 20]
//!       [--nvcc PATH] [--library libfused_softmax_topk.so]
//!
//! Shapes: rows × V ∈ {50257, 151936}, k ∈ {5, 50}. Bandwidth is rows·V·4 bytes / time for all
//! three (a copy also writes those bytes, so a kernel that only reads can exceed 100 %).
//! Targets: fused ≥ 3× faster than naive, ≥ 70 % of the copy's bandwidth.
//! `--library` also times a shared library exporting `fused_softmax_topk` (the submission
//! interface) on the same buffers. Without a GPU or a CUDA compiler it says so and exits with 2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaSlice, CudaStream};
use fuse::cuda::{CudaError, FuseKernels, GpuSession, PtxCompiler, Shape, SharedLibraryKernel};
use fuse::fused_softmax_topk;
use rayon::prelude::*;

const VOCABS: [usize; 2] = [50_257, 151_936];
const KS: [usize; 2] = [5, 50];
const CHECKED_ROWS: usize = 16;

struct Options {
    rows: usize,
    iterations: usize,
    nvcc: Option<PathBuf>,
    library: Option<PathBuf>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rows: 4096,
        iterations: 20,
        nvcc: None,
        library: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => options.rows = value()?.parse().map_err(|e| format!("--rows: {e}"))?,
            "--iterations" => {
                options.iterations = value()?.parse().map_err(|e| format!("--iterations: {e}"))?
            }
            "--nvcc" => options.nvcc = Some(PathBuf::from(value()?)),
            "--library" => options.library = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.rows < CHECKED_ROWS || options.iterations == 0 {
        return Err(format!(
            "--rows must be at least {CHECKED_ROWS} and --iterations at least 1"
        ));
    }
    Ok(options)
}

/// Logits in [−8, 8) from a counter hash (splitmix64): reproducible, and generated in parallel.
fn random_logits(len: usize, seed: u64) -> Vec<f32> {
    let mut logits = vec![0.0f32; len];
    logits
        .par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(chunk, values)| {
            for (i, value) in values.iter_mut().enumerate() {
                let mut z = seed ^ ((chunk << 16) + i) as u64;
                z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                *value = ((z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * 8.0;
            }
        });
    logits
}

/// Median time in milliseconds of `iterations` runs of `work`, after two warm-up runs.
fn median_ms(
    session: &GpuSession,
    iterations: usize,
    mut work: impl FnMut(&Arc<CudaStream>) -> Result<(), CudaError>,
) -> Result<f64, CudaError> {
    let stream = session.stream();
    for _ in 0..2 {
        work(stream)?;
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = session
            .context()
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        let end = session
            .context()
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        start.record(stream)?;
        work(stream)?;
        end.record(stream)?;
        times.push(f64::from(start.elapsed_ms(&end)?));
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

struct Buffers {
    logits: CudaSlice<f32>,
    copy: CudaSlice<f32>,
    probs: CudaSlice<f32>,
}

/// Prints the table; `Ok(false)` when a result was wrong (the targets only inform).
fn run(options: &Options) -> Result<bool, CudaError> {
    let session = GpuSession::open(0)?;
    let compiler = PtxCompiler::detect(options.nvcc.as_deref())?;
    let kernels = FuseKernels::load(&session, compiler)?;
    // SAFETY: the library is the reference's or a trusted build exporting the EntryPoint signature.
    let library = options
        .library
        .as_deref()
        .map(|path| unsafe { SharedLibraryKernel::load(path, "fused_softmax_topk") })
        .transpose()?;
    let target = session.compute_capability()?;
    println!(
        "device: {} (sm_{}{}), PTX by {}, rows = {}, median of {} runs",
        session.device_name()?,
        target.major,
        target.minor,
        kernels.compiler(),
        options.rows,
        options.iterations
    );
    println!(
        "{:>7} {:>3} {:>10} {:>10} {:>8} {:>10} {:>10} {:>9}{}",
        "vocab",
        "k",
        "fused ms",
        "naive ms",
        "speed-up",
        "fused GB/s",
        "copy GB/s",
        "of copy",
        if library.is_some() {
            "  library ms"
        } else {
            ""
        }
    );
    let (mut all_met, mut all_correct) = (true, true);
    let stream = session.stream();
    for vocab in VOCABS {
        let rows = options.rows;
        let host_logits = random_logits(rows * vocab, vocab as u64);
        let mut buffers = Buffers {
            logits: stream.clone_htod(&host_logits)?,
            copy: stream.alloc_zeros::<f32>(rows * vocab)?,
            probs: stream.alloc_zeros::<f32>(rows * vocab)?,
        };
        let bytes = (rows * vocab * 4) as f64;
        let copy_ms = median_ms(&session, options.iterations, |stream| {
            Ok(stream.memcpy_dtod(&buffers.logits, &mut buffers.copy)?)
        })?;
        for k in KS {
            let shape = Shape::without_data(rows, vocab, k)?;
            let (mut idx, mut prob) = (
                stream.alloc_zeros::<i32>(rows * k)?,
                stream.alloc_zeros::<f32>(rows * k)?,
            );
            // Correctness first: the first rows against the CPU reference.
            kernels.launch_fused(stream, &buffers.logits, shape, &mut idx, &mut prob)?;
            let gpu = fuse::cuda::device::download(stream, shape, &idx, &prob)?;
            let expected =
                fused_softmax_topk(&host_logits[..CHECKED_ROWS * vocab], CHECKED_ROWS, vocab, k)?;
            let checked = fuse::TopK {
                rows: CHECKED_ROWS,
                k,
                indices: gpu.indices[..CHECKED_ROWS * k].to_vec(),
                probs: gpu.probs[..CHECKED_ROWS * k].to_vec(),
            };
            if let Some(mismatch) = expected.first_mismatch(&checked, 1e-7, 1e-4) {
                println!("vocab {vocab} k {k}: WRONG RESULT, {mismatch}");
                all_correct = false;
                continue;
            }
            let fused_ms = median_ms(&session, options.iterations, |stream| {
                kernels.launch_fused(stream, &buffers.logits, shape, &mut idx, &mut prob)
            })?;
            let naive_ms = median_ms(&session, options.iterations, |stream| {
                kernels.launch_naive(
                    stream,
                    &buffers.logits,
                    shape,
                    &mut buffers.probs,
                    &mut idx,
                    &mut prob,
                )
            })?;
            let library_ms = match &library {
                Some(library) => Some(median_ms(&session, options.iterations, |stream| {
                    library.launch(stream, &buffers.logits, shape, &mut idx, &mut prob)
                })?),
                None => None,
            };
            let speedup = naive_ms / fused_ms;
            let of_copy = copy_ms / fused_ms;
            all_met &= speedup >= 3.0 && of_copy >= 0.7;
            println!(
                "{vocab:>7} {k:>3} {fused_ms:>10.3} {naive_ms:>10.3} {speedup:>7.2}x {:>10.0} {:>10.0} {:>8.0}%{}",
                bytes / fused_ms / 1e6,
                bytes / copy_ms / 1e6,
                100.0 * of_copy,
                library_ms
                    .map(|ms| format!("  {ms:>10.3}"))
                    .unwrap_or_default()
            );
        }
    }
    println!(
        "targets (>= 3x naive, >= 70% of copy bandwidth): {}",
        if all_met && all_correct {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(all_correct)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("fuse_bench: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error @ (CudaError::GpuUnavailable { .. } | CudaError::CompilerUnavailable { .. })) => {
            eprintln!("fuse_bench: cannot run here: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("fuse_bench: {error}");
            ExitCode::FAILURE
        }
    }
}
