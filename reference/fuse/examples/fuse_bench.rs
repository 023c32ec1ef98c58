//! GPU benchmark of the fused softmax + top-k kernel against the naive baseline (softmax written
//! to global memory, then top-k) and a device-to-device copy of the same bytes, all in one run.
//!
//!   cargo run --release -p fuse --example fuse_bench -- [--rows 4096] [--seconds 2]
//!       [--nvcc PATH] [--library libfused_softmax_topk.so]
//!
//! Shapes: rows × V ∈ {50257, 151936}, k ∈ {5, 50}. Bandwidth is rows·V·4 bytes / time for all
//! three (a copy also writes those bytes, so a kernel that only reads can exceed 100 %).
//! Targets: fused ≥ 3× faster than naive, ≥ 70 % of the copy's bandwidth.
//! `--library` also times a shared library exporting `fused_softmax_topk` (the submission
//! interface) on the same buffers. Without a GPU or a CUDA compiler it says so and exits with 2.
//!
//! Timing (`fuse::timing`): warm-up runs, then timed runs with CUDA events, each on fresh inputs
//! (the rows of a larger pool, shifted by one row per run) with the L2 cache flushed first
//! (a write of twice its size) and the first rows of its outputs checked after it, until the
//! relative standard error is below 1 % or `--seconds` per series; median and quartiles are
//! printed. A time below the memory bound (the bytes at the copy's bandwidth) is reported as
//! impossible and fails the run; a library more than 10× faster than the reference is flagged.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaSlice, CudaStream};
use fuse::cuda::{CudaError, FuseKernels, GpuSession, PtxCompiler, Shape, SharedLibraryKernel};
use fuse::fused_softmax_topk;
use fuse::timing::{
    StoppingRule, Summary, copy_bandwidth, faster_than_memory_bound, memory_floor_ms,
    suspiciously_fast,
};
use rayon::prelude::*;

const VOCABS: [usize; 2] = [50_257, 151_936];
const KS: [usize; 2] = [5, 50];
const CHECKED_ROWS: usize = 16;
/// Distinct inputs the runs cycle through: run i reads pool rows i mod SHIFTS onwards.
const SHIFTS: usize = 8;

struct Options {
    rows: usize,
    seconds: f64,
    nvcc: Option<PathBuf>,
    library: Option<PathBuf>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rows: 4096,
        seconds: 2.0,
        nvcc: None,
        library: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => options.rows = value()?.parse().map_err(|e| format!("--rows: {e}"))?,
            "--seconds" => {
                options.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            "--nvcc" => options.nvcc = Some(PathBuf::from(value()?)),
            "--library" => options.library = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.rows < CHECKED_ROWS || !options.seconds.is_finite() || options.seconds <= 0.0 {
        return Err(format!(
            "--rows must be at least {CHECKED_ROWS} and --seconds positive"
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

/// The device buffers of one vocabulary, and the flush buffer.
struct Buffers {
    /// `rows + SHIFTS - 1` rows: run i's inputs are rows `i % SHIFTS ..` of it.
    pool: CudaSlice<f32>,
    logits: CudaSlice<f32>,
    copy: CudaSlice<f32>,
    /// The naive baseline's softmax.
    probs: CudaSlice<f32>,
    flush: CudaSlice<u8>,
    top_idx: CudaSlice<i32>,
    top_prob: CudaSlice<f32>,
}

/// Times `work` by the protocol above: fresh inputs (pool rows from `shift`) and the flush
/// before each run, the run between two events, `check(shift)` after it.
fn measure(
    session: &GpuSession,
    rule: &StoppingRule,
    vocab: usize,
    buffers: &mut Buffers,
    mut work: impl FnMut(&Arc<CudaStream>, &mut Buffers) -> Result<(), CudaError>,
    mut check: impl FnMut(usize, &Arc<CudaStream>, &Buffers) -> Result<Result<(), String>, CudaError>,
) -> Result<Result<Summary, String>, CudaError> {
    let stream = session.stream();
    let start = session
        .context()
        .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    let end = session
        .context()
        .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    let mut times = Vec::new();
    let mut began = Instant::now();
    for run in 0.. {
        let shift = run % SHIFTS;
        let window = shift * vocab..shift * vocab + buffers.logits.len();
        stream.memcpy_dtod(&buffers.pool.slice(window), &mut buffers.logits)?;
        stream.memset_zeros(&mut buffers.flush)?;
        start.record(stream)?;
        work(stream, buffers)?;
        end.record(stream)?;
        let ms = f64::from(start.elapsed_ms(&end)?);
        if let Err(wrong) = check(shift, stream, buffers)? {
            return Ok(Err(format!("run {run}: {wrong}")));
        }
        if run < rule.warmup {
            began = Instant::now();
            continue;
        }
        times.push(ms);
        if rule.stop(&times, began.elapsed()).is_some() {
            break;
        }
    }
    Ok(Summary::of(&times).ok_or_else(|| "no times".to_string()))
}

/// Prints the table; `Ok(false)` when a result was wrong or impossible (the targets only inform).
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
    let l2 = session.l2_cache_bytes()?;
    let rule = StoppingRule {
        time_cap: Duration::from_secs_f64(options.seconds),
        ..StoppingRule::GPU
    };
    println!(
        "device: {} (sm_{}{}, L2 {} MiB, flushed before every run), PTX by {}, rows = {}, median (IQR) of runs until RSE < {}% or {} s",
        session.device_name()?,
        target.major,
        target.minor,
        l2 >> 20,
        kernels.compiler(),
        options.rows,
        100.0 * rule.target_relative_error,
        options.seconds
    );
    let (mut all_met, mut all_right) = (true, true);
    let stream = session.stream();
    for vocab in VOCABS {
        let rows = options.rows;
        let pool_rows = rows + SHIFTS - 1;
        let host_pool = random_logits(pool_rows * vocab, vocab as u64);
        let mut buffers = Buffers {
            pool: stream.clone_htod(&host_pool)?,
            logits: stream.alloc_zeros::<f32>(rows * vocab)?,
            copy: stream.alloc_zeros::<f32>(rows * vocab)?,
            probs: stream.alloc_zeros::<f32>(rows * vocab)?,
            flush: stream.alloc_zeros::<u8>((2 * l2).max(1 << 20) as usize)?,
            top_idx: stream.alloc_zeros::<i32>(1)?,
            top_prob: stream.alloc_zeros::<f32>(1)?,
        };
        let bytes = (rows * vocab * 4) as u64;
        let no_check = |_: usize, _: &Arc<CudaStream>, _: &Buffers| Ok(Ok(()));
        let copy = measure(
            &session,
            &rule,
            vocab,
            &mut buffers,
            |stream, b| Ok(stream.memcpy_dtod(&b.logits, &mut b.copy)?),
            no_check,
        )?
        .expect("a copy needs no check");
        let floor = memory_floor_ms(bytes, copy_bandwidth(bytes, copy.median));
        println!(
            "vocab {vocab}: copy {} = {:.0} GB/s; memory bound for reading the logits {floor:.4} ms",
            copy.describe(),
            2.0 * bytes as f64 / copy.median / 1e6
        );
        for k in KS {
            let shape = Shape::without_data(rows, vocab, k)?;
            buffers.top_idx = stream.alloc_zeros::<i32>(rows * k)?;
            buffers.top_prob = stream.alloc_zeros::<f32>(rows * k)?;
            // The first rows of every shift, by the CPU reference.
            let expected = fused_softmax_topk(
                &host_pool[..(CHECKED_ROWS + SHIFTS - 1) * vocab],
                CHECKED_ROWS + SHIFTS - 1,
                vocab,
                k,
            )?;
            let check = |shift: usize, stream: &Arc<CudaStream>, b: &Buffers| {
                let got = fuse::cuda::device::download(stream, shape, &b.top_idx, &b.top_prob)?;
                let first_rows = |top: &fuse::TopK, from: usize| fuse::TopK {
                    rows: CHECKED_ROWS,
                    k,
                    indices: top.indices[from * k..(from + CHECKED_ROWS) * k].to_vec(),
                    probs: top.probs[from * k..(from + CHECKED_ROWS) * k].to_vec(),
                };
                Ok(
                    match first_rows(&expected, shift).first_mismatch(
                        &first_rows(&got, 0),
                        1e-7,
                        1e-4,
                    ) {
                        Some(mismatch) => Err(mismatch.to_string()),
                        None => Ok(()),
                    },
                )
            };
            let mut series = Vec::new();
            for name in ["fused", "naive", "library"] {
                if name == "library" && library.is_none() {
                    continue;
                }
                let measured = measure(
                    &session,
                    &rule,
                    vocab,
                    &mut buffers,
                    |stream, b| match name {
                        "fused" => kernels.launch_fused(
                            stream,
                            &b.logits,
                            shape,
                            &mut b.top_idx,
                            &mut b.top_prob,
                        ),
                        "naive" => kernels.launch_naive(
                            stream,
                            &b.logits,
                            shape,
                            &mut b.probs,
                            &mut b.top_idx,
                            &mut b.top_prob,
                        ),
                        _ => library.as_ref().expect("checked above").launch(
                            stream,
                            &b.logits,
                            shape,
                            &mut b.top_idx,
                            &mut b.top_prob,
                        ),
                    },
                    check,
                )?;
                match measured {
                    Ok(summary) => series.push((name, summary)),
                    Err(wrong) => {
                        println!("vocab {vocab} k {k} {name}: WRONG RESULT, {wrong}");
                        all_right = false;
                    }
                }
            }
            let time = |wanted: &str| series.iter().find(|(n, _)| *n == wanted).map(|(_, s)| *s);
            let (Some(fused), Some(naive)) = (time("fused"), time("naive")) else {
                continue;
            };
            let speedup = naive.median / fused.median;
            let of_copy = copy.median / fused.median;
            all_met &= speedup >= 3.0 && of_copy >= 0.7;
            println!(
                "vocab {vocab} k {k}: fused {} | naive {} | {speedup:.2}x naive | {:.0} GB/s = {:.0}% of copy",
                fused.describe(),
                naive.describe(),
                bytes as f64 / fused.median / 1e6,
                100.0 * of_copy
            );
            for (name, summary) in &series {
                if faster_than_memory_bound(summary.median, floor) {
                    println!(
                        "vocab {vocab} k {k} {name}: IMPOSSIBLE, {:.4} ms is faster than the memory bound {floor:.4} ms",
                        summary.median
                    );
                    all_right = false;
                }
            }
            if let Some(library) = time("library") {
                println!(
                    "vocab {vocab} k {k}: library {}{}",
                    library.describe(),
                    if suspiciously_fast(library.median, fused.median) {
                        " FLAGGED: more than 10x faster than the reference kernel"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    println!(
        "targets (>= 3x naive, >= 70% of copy bandwidth): {}",
        if all_met && all_right {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(all_right)
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
