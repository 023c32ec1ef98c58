//! Throughput of the tiled forward and backward passes, measured side by side with the machine's
//! matmul rate through the same path (`flash_attention::matmul`, i.e. the `gemm` crate; ndarray's
//! `dot`, i.e. matrixmultiply, for comparison) and, when available, a NumPy tiled implementation
//! with one BLAS thread (`benches/numpy_tiled.py`).
//!
//! ```text
//! cargo bench -p flash-attention
//! BENCH_PYTHON=/path/to/python-with-numpy cargo bench -p flash-attention
//! ```
//!
//! FLOP counts (matmul work only, per head, s = 1/2 under the causal mask, else 1):
//! forward 4·N²·D·s (S = Q Kᵀ and P V), backward 10·N²·D·s (S, dV, dP, dQ, dK: 2.5× forward).
//!
//! Each figure is the best of a few repetitions. On a shared machine wall time includes waiting
//! for a core, so single-thread rates and ratios are computed from the thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), which does not; the 2-thread scaling can only use wall
//! time, meaningful only when two cores are free (the load average is printed), so it is also
//! estimated from CPU time: single-thread CPU time over the busiest pool thread's CPU time.

use std::process::Command;
use std::time::Instant;

use flash_attention::matmul::matmul;
use flash_attention::{FlashAttention, Float, Parallelism};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array4};

const FORWARD_SHAPE: [usize; 4] = [2, 8, 4096, 64];
const BACKWARD_SHAPE: [usize; 4] = [1, 1, 4096, 64];
const TILE: usize = 128;
const REPETITIONS: usize = 5;

/// Matmul flops of one causal pass over (B, H, N, D): `per_score_per_d`·D flops for each of the
/// N²/2 visible scores of each head.
fn causal_flops([b, h, n, d]: [usize; 4], per_score_per_d: usize) -> f64 {
    (per_score_per_d * n * n * d * b * h) as f64 / 2.0
}

fn forward_flops(shape: [usize; 4]) -> f64 {
    causal_flops(shape, 4)
}

fn backward_flops(shape: [usize; 4]) -> f64 {
    causal_flops(shape, 10)
}

/// CPU time the calling thread has run, in seconds.
fn thread_cpu_seconds() -> f64 {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

/// Best wall time and best CPU time of the calling thread over `repetitions` calls, seconds.
#[derive(Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: f64,
}

fn best_of(repetitions: usize, mut call: impl FnMut()) -> Timing {
    let mut best = Timing {
        wall: f64::INFINITY,
        cpu: f64::INFINITY,
    };
    for _ in 0..repetitions {
        let (cpu_start, start) = (thread_cpu_seconds(), Instant::now());
        call();
        best.wall = best.wall.min(start.elapsed().as_secs_f64());
        best.cpu = best.cpu.min(thread_cpu_seconds() - cpu_start);
    }
    best
}

/// Best wall time, and best CPU time of the busiest pool thread, over `repetitions` calls run on
/// `pool`. The busiest thread's CPU time is what the wall time would be with a free core per
/// thread, so single-thread CPU time over it estimates the scaling even on a crowded machine.
fn best_of_on_pool(pool: &rayon::ThreadPool, repetitions: usize, call: impl Fn() + Sync) -> Timing {
    let mut best = Timing {
        wall: f64::INFINITY,
        cpu: f64::INFINITY,
    };
    for _ in 0..repetitions {
        let before = pool.broadcast(|_| thread_cpu_seconds());
        let start = Instant::now();
        pool.install(&call);
        best.wall = best.wall.min(start.elapsed().as_secs_f64());
        let after = pool.broadcast(|_| thread_cpu_seconds());
        let busiest = after
            .iter()
            .zip(&before)
            .map(|(a, b)| a - b)
            .fold(0.0, f64::max);
        best.cpu = best.cpu.min(busiest);
    }
    best
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

/// Deterministic inputs in [−1, 1).
fn input<F: Float>(shape: [usize; 4], seed: usize) -> Array4<F> {
    Array4::from_shape_fn(shape, |(b, h, i, d)| {
        let x = (b * 7919 + h * 104_729 + i * 31 + d * 17 + seed * 613) % 1021;
        F::from_f64(x as f64 / 510.5 - 1.0)
    })
}

/// Which library multiplies.
#[derive(Clone, Copy)]
enum MatmulPath {
    /// `flash_attention::matmul` (gemm), what the kernels use.
    Kernels,
    /// ndarray's `general_mat_mul` (matrixmultiply with AVX-512).
    Ndarray,
}

/// GFLOP/s (by CPU time) of C = A B for (m × k)·(k × n), `repetitions` products
/// per timing. With `b_transposed` B is the transpose of a row-major (n × k) matrix, as Kᵀ is in
/// S = Q Kᵀ.
fn matmul_gflops<F: Float>(
    path: MatmulPath,
    [m, k, n]: [usize; 3],
    b_transposed: bool,
    repetitions: usize,
) -> f64 {
    let a = Array2::from_shape_fn((m, k), |(i, j)| {
        F::from_f64(((i * 3 + j * 5) % 17) as f64 / 17.0)
    });
    let b_rows = Array2::from_shape_fn((k, n), |(i, j)| {
        F::from_f64(((i * 7 + j * 2) % 13) as f64 / 13.0)
    });
    let b_columns = b_rows.t().as_standard_layout().into_owned();
    let b = if b_transposed {
        b_columns.t()
    } else {
        b_rows.view()
    };
    let mut c = Array2::zeros((m, n));
    let timing = best_of(REPETITIONS, || {
        for _ in 0..repetitions {
            match path {
                MatmulPath::Kernels => matmul(F::one(), &a, &b, F::zero(), &mut c),
                MatmulPath::Ndarray => general_mat_mul(F::one(), &a, &b, F::zero(), &mut c),
            }
        }
    });
    2.0 * (m * k * n * repetitions) as f64 / timing.cpu / 1e9
}

/// Matmul rates of one dtype: kernels 1024³, kernels Q·Kᵀ tile, kernels P·V tile, ndarray 1024³.
fn matmul_rates<F: Float>() -> [f64; 4] {
    [
        matmul_gflops::<F>(MatmulPath::Kernels, [1024, 1024, 1024], false, 2),
        matmul_gflops::<F>(MatmulPath::Kernels, [TILE, 64, TILE], true, 400),
        matmul_gflops::<F>(MatmulPath::Kernels, [TILE, TILE, 64], false, 400),
        matmul_gflops::<F>(MatmulPath::Ndarray, [1024, 1024, 1024], false, 2),
    ]
}

/// One case of one dtype: single-thread timing (CPU and wall) and 2-thread wall time.
struct Case {
    name: &'static str,
    flops: f64,
    single: Timing,
    /// Wall time and busiest-thread CPU time on 2 threads.
    two_threads: Timing,
}

fn bench_dtype<F: Float>(two_threads: &rayon::ThreadPool) -> ([f64; 4], Vec<Case>) {
    let matmul = matmul_rates::<F>();
    let sequential = FlashAttention::new(TILE, true);
    let parallel = sequential.with_parallelism(Parallelism::Rayon);

    let (q, k, v) = (
        input::<F>(FORWARD_SHAPE, 0),
        input(FORWARD_SHAPE, 1),
        input(FORWARD_SHAPE, 2),
    );
    let forward = |attention: FlashAttention| {
        attention
            .forward(q.view(), k.view(), v.view())
            .expect("valid shapes");
    };
    let forward_case = Case {
        name: "forward",
        flops: forward_flops(FORWARD_SHAPE),
        single: best_of(REPETITIONS, || forward(sequential)),
        two_threads: best_of_on_pool(two_threads, REPETITIONS, || forward(parallel)),
    };

    let (q, k, v, d_o) = (
        input::<F>(BACKWARD_SHAPE, 3),
        input(BACKWARD_SHAPE, 4),
        input(BACKWARD_SHAPE, 5),
        input(BACKWARD_SHAPE, 6),
    );
    let fwd = sequential
        .forward(q.view(), k.view(), v.view())
        .expect("valid shapes");
    let backward = |attention: FlashAttention| {
        attention
            .backward(
                d_o.view(),
                q.view(),
                k.view(),
                v.view(),
                fwd.o.view(),
                fwd.lse.view(),
            )
            .expect("valid shapes");
    };
    let backward_case = Case {
        name: "backward",
        flops: backward_flops(BACKWARD_SHAPE),
        single: best_of(2 * REPETITIONS, || backward(sequential)),
        two_threads: best_of_on_pool(two_threads, 2 * REPETITIONS, || backward(parallel)),
    };
    (matmul, vec![forward_case, backward_case])
}

/// One line of the NumPy baseline.
struct NumpyTiming {
    case: String,
    dtype: String,
    wall: f64,
    cpu: f64,
}

/// Runs `numpy_tiled.py` under `$BENCH_PYTHON`, or says why not.
fn numpy_timings() -> Result<Vec<NumpyTiming>, String> {
    let python = std::env::var("BENCH_PYTHON").map_err(|_| "BENCH_PYTHON not set".to_string())?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/numpy_tiled.py");
    let config = format!("[{FORWARD_SHAPE:?}, {BACKWARD_SHAPE:?}, {TILE}, 3]");
    let output = Command::new(&python)
        .arg(script)
        .arg(config)
        .envs(["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"].map(|var| (var, "1")))
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{python} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [case, dtype, wall, cpu] => Ok(NumpyTiming {
                    case: case.to_string(),
                    dtype: dtype.to_string(),
                    wall: wall.parse().map_err(|e| format!("{line}: {e}"))?,
                    cpu: cpu.parse().map_err(|e| format!("{line}: {e}"))?,
                }),
                _ => Err(format!("unexpected line from numpy_tiled.py: {line}")),
            }
        })
        .collect()
}

fn main() {
    let two_threads = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a 2-thread pool");
    println!(
        "flash-attention benchmark: T = {TILE}, causal; forward {FORWARD_SHAPE:?}, backward {BACKWARD_SHAPE:?}"
    );
    println!("flops: forward 4·N²·D·B·H/2, backward 10·N²·D·B·H/2 (causal counts half the scores)");
    println!("load average at start: {}\n", load_average());

    let results = [
        ("f64", bench_dtype::<f64>(&two_threads)),
        ("f32", bench_dtype::<f32>(&two_threads)),
    ];
    let numpy = numpy_timings();
    println!("load average at end: {}\n", load_average());

    println!(
        "matmul, 1 thread, GFLOP/s by CPU time (kernels: flash_attention::matmul = gemm; ndarray: matrixmultiply):"
    );
    println!(
        "{:<6} {:>14} {:>24} {:>24} {:>14}",
        "dtype",
        "kernels 1024³",
        "kernels Q·Kᵀ 128×64×128",
        "kernels P·V 128×128×64",
        "ndarray 1024³"
    );
    for (dtype, (rates, _)) in &results {
        println!(
            "{dtype:<6} {:>14.1} {:>24.1} {:>24.1} {:>14.1}",
            rates[0], rates[1], rates[2], rates[3]
        );
    }

    println!(
        "\n{:<9} {:<5} {:>9} {:>9} {:>13} {:>12} {:>12} {:>9} {:>12} {:>11} {:>13}",
        "case",
        "dtype",
        "wall ms",
        "CPU ms",
        "GFLOP/s (CPU)",
        "% mm 1024³",
        "% mm tiles",
        "2-thr ms",
        "scaling wall",
        "scaling CPU",
        "× NumPy (CPU)"
    );
    for (dtype, (rates, cases)) in &results {
        for case in cases {
            let cpu = case.single.cpu;
            let gflops = case.flops / cpu / 1e9;
            let tile_rate = (rates[1] + rates[2]) / 2.0;
            let versus_numpy = numpy
                .as_ref()
                .ok()
                .and_then(|rows| {
                    rows.iter()
                        .find(|r| r.case == case.name && r.dtype[5..] == dtype[1..])
                })
                .map_or("-".to_string(), |r| format!("{:.2}", r.cpu / cpu));
            println!(
                "{:<9} {:<5} {:>9.1} {:>9.1} {:>13.1} {:>11.0}% {:>11.0}% {:>9.1} {:>11.2}× {:>10.2}× {:>13}",
                case.name,
                dtype,
                case.single.wall * 1e3,
                cpu * 1e3,
                gflops,
                100.0 * gflops / rates[0],
                100.0 * gflops / tile_rate,
                case.two_threads.wall * 1e3,
                case.single.wall / case.two_threads.wall,
                cpu / case.two_threads.cpu,
                versus_numpy
            );
        }
    }

    match numpy {
        Ok(rows) => {
            println!("\nNumPy tiled (1 BLAS thread), same sizes:");
            for r in rows {
                let flops = match r.case.as_str() {
                    "forward" => forward_flops(FORWARD_SHAPE),
                    "backward" => backward_flops(BACKWARD_SHAPE),
                    _ => 2.0 * 1024f64.powi(3),
                };
                println!(
                    "{:<10} {:<8} wall {:>9.1} ms  CPU {:>9.1} ms  {:>7.1} GFLOP/s (CPU)",
                    r.case,
                    r.dtype,
                    r.wall * 1e3,
                    r.cpu * 1e3,
                    flops / r.cpu / 1e9
                );
            }
        }
        Err(reason) => println!("\nNumPy baseline skipped: {reason}"),
    }
}
