//! LayerNorm forward + backward throughput, f64, single thread, against NumPy doing the same
//! math in the same run.
//!
//! ```text
//! cargo bench -p layernorm
//! BENCH_PYTHON=/path/to/venv/bin/python cargo bench -p layernorm   # adds the NumPy column
//! LAYERNORM_BENCH_REPS=10 ...                                         # best of N (default 5)
//! ```
//!
//! Bandwidth counts compulsory traffic only: the forward reads `x` and writes `y` and `x̂`, the
//! backward reads `dy` and `x̂` and writes `dx` — 6 arrays of f64, 48 bytes per element.

use std::process::Command;
use std::time::{Duration, Instant};

use layernorm::{
    LayerNormCache, LayerNormGrads, layer_norm_backward, layer_norm_backward_into,
    layer_norm_forward, layer_norm_forward_into,
};
use ndarray::{Array1, Array3};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const SHAPES: [(usize, usize, usize); 2] = [(8, 512, 1024), (32, 128, 4096)];
const EPS: f64 = 1e-5;
const BYTES_PER_ELEMENT: f64 = 48.0;

/// The same math as the Rust reference: two-pass variance, cache x̂ and 1/σ, closed-form dx.
const NUMPY_LAYERNORM: &str = r#"
import sys, time
import numpy as np
B, T, D, reps = map(int, sys.argv[1:5])
rng = np.random.default_rng(0)
x = rng.standard_normal((B, T, D)); dy = rng.standard_normal((B, T, D))
gamma = rng.standard_normal(D); beta = rng.standard_normal(D); eps = 1e-5
def forward(x, gamma, beta):
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)
    x_hat = centred * inv_std
    return gamma * x_hat + beta, (x_hat, inv_std)
def backward(dy, cache):
    x_hat, inv_std = cache
    g = dy * gamma
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True)
                    - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    return dx, (dy * x_hat).sum(axis=(0, 1)), dy.sum(axis=(0, 1))
best = float("inf")
for _ in range(reps):
    start = time.perf_counter()
    y, cache = forward(x, gamma, beta)
    backward(dy, cache)
    best = min(best, time.perf_counter() - start)
print(best)
"#;

fn main() {
    let reps: usize = std::env::var("LAYERNORM_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let python = std::env::var("BENCH_PYTHON").ok();
    if python.is_none() {
        println!("BENCH_PYTHON not set: skipping the NumPy comparison");
    }
    println!("LayerNorm forward+backward, f64, 1 thread, best of {reps}");
    println!(
        "{:>16} {:>22} {:>8} {:>8} {:>9} {:>8} {:>6} {:>11}",
        "(B, T, D)", "variant", "fwd ms", "bwd ms", "total ms", "ns/elem", "GB/s", "numpy/this"
    );
    for (b, t, d) in SHAPES {
        let elements = (b * t * d) as f64;
        let numpy = python.as_deref().map(|py| time_numpy(py, b, t, d, reps));
        let numpy_seconds = match numpy {
            Some(Ok(seconds)) => Some(seconds),
            Some(Err(why)) => {
                eprintln!("NumPy run failed: {why}");
                None
            }
            None => None,
        };
        let print_row = |variant: &str, split: Option<(Duration, Duration)>, total: f64| {
            let (forward, backward) = split.map_or(("-".into(), "-".into()), |(f, b)| {
                (format!("{:.1}", ms(f)), format!("{:.1}", ms(b)))
            });
            let ratio = numpy_seconds.map_or("-".into(), |n| format!("{:.2}x", n / total));
            println!(
                "{:>16} {:>22} {:>8} {:>8} {:>9.1} {:>8.2} {:>6.1} {:>11}",
                format!("({b}, {t}, {d})"),
                variant,
                forward,
                backward,
                total * 1e3,
                total * 1e9 / elements,
                BYTES_PER_ELEMENT * elements / total / 1e9,
                ratio,
            );
        };
        for reuse_buffers in [false, true] {
            let (forward, backward) = time_rust(b, t, d, reps, reuse_buffers);
            let variant = if reuse_buffers {
                "rust, reused outputs"
            } else {
                "rust, fresh outputs"
            };
            print_row(
                variant,
                Some((forward, backward)),
                (forward + backward).as_secs_f64(),
            );
        }
        if let Some(seconds) = numpy_seconds {
            print_row("numpy, same math", None, seconds);
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Best forward and best backward time over `reps` runs, allocating the outputs in every run
/// or reusing one set of output buffers (what a training loop does).
fn time_rust(
    b: usize,
    t: usize,
    d: usize,
    reps: usize,
    reuse_buffers: bool,
) -> (Duration, Duration) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut normal = || rng.sample::<f64, _>(StandardNormal);
    let x = Array3::from_shape_simple_fn((b, t, d), &mut normal);
    let dy = Array3::from_shape_simple_fn((b, t, d), &mut normal);
    let gamma = Array1::from_shape_simple_fn(d, &mut normal);
    let beta = Array1::from_shape_simple_fn(d, &mut normal);
    let (mut y, mut cache, mut grads) = (
        Array3::zeros((0, 0, 0)),
        LayerNormCache::default(),
        LayerNormGrads::default(),
    );

    let (mut best_forward, mut best_backward) = (Duration::MAX, Duration::MAX);
    // One untimed warm-up run when reusing, so the buffers exist before timing starts.
    for rep in 0..reps + usize::from(reuse_buffers) {
        let start = Instant::now();
        if reuse_buffers {
            layer_norm_forward_into(x.view(), gamma.view(), beta.view(), EPS, &mut y, &mut cache)
        } else {
            layer_norm_forward(x.view(), gamma.view(), beta.view(), EPS)
                .map(|(fresh_y, fresh_cache)| (y, cache) = (fresh_y, fresh_cache))
        }
        .expect("benchmark shapes are consistent");
        let forward = start.elapsed();
        let start = Instant::now();
        if reuse_buffers {
            layer_norm_backward_into(dy.view(), &cache, &mut grads)
        } else {
            layer_norm_backward(dy.view(), &cache).map(|fresh| grads = fresh)
        }
        .expect("dy has the input's shape");
        let backward = start.elapsed();
        std::hint::black_box((&y, &grads));
        if reuse_buffers && rep == 0 {
            continue;
        }
        best_forward = best_forward.min(forward);
        best_backward = best_backward.min(backward);
    }
    (best_forward, best_backward)
}

/// Best forward+backward seconds of the NumPy version, pinned to one thread like the Rust one.
fn time_numpy(python: &str, b: usize, t: usize, d: usize, reps: usize) -> Result<f64, String> {
    let output = Command::new(python)
        .args(["-c", NUMPY_LAYERNORM])
        .args([b, t, d, reps].map(|n| n.to_string()))
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("cannot start {python}: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("unexpected NumPy output: {e}"))
}
