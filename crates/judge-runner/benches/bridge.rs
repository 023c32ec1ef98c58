//! Per-call overhead of the Python bridge: a small call, and a 4096×64 f64 array sent as an
//! argument and returned. Targets: ≤ 5 ms and ≤ 20 ms. Run with
//! `cargo bench -p judge-runner --bench bridge`.

use std::time::{Duration, Instant};

use judge_runner::{Limits, PythonEnv, Target, Value, Worker, WorkerOptions};
use ndarray::Array2;

const CALLS: usize = 200;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Times `CALLS` calls of `function` (after a few warm-up calls), in milliseconds.
fn time_calls(worker: &mut Worker, function: &str, args: &[Value]) -> Vec<f64> {
    let mut times: Vec<f64> = (0..CALLS + 5)
        .map(|_| {
            let started = Instant::now();
            let outcome = worker
                .call(
                    Target::Function(function.into()),
                    args.to_vec(),
                    vec![],
                    Duration::from_secs(10),
                )
                .expect("the call returns");
            std::hint::black_box(outcome.value);
            started.elapsed().as_secs_f64() * 1e3
        })
        .skip(5)
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

fn main() {
    let env = PythonEnv::resolve(&|message| eprintln!("python setup: {message}")).expect("python");
    let dir = tempfile::tempdir().expect("a temp folder");
    std::fs::write(
        dir.path().join("bench.py"),
        "def small(x):\n    return x + 1\ndef echo(a):\n    return a\n",
    )
    .expect("the submission");

    let started = Instant::now();
    let mut worker = Worker::start(
        &env,
        dir.path(),
        WorkerOptions {
            limits: Limits::default(),
            fixtures: vec![],
        },
    )
    .expect("the worker starts");
    worker
        .load_entry(&["small", "echo"], "bench")
        .expect("loads");
    let start_ms = started.elapsed().as_secs_f64() * 1e3;

    let array = Array2::from_shape_fn((4096, 64), |(i, j)| (i * 64 + j) as f64 * 0.5);
    let small = time_calls(&mut worker, "small", &[Value::Int(41)]);
    let round_trip = time_calls(&mut worker, "echo", &[array.into()]);

    println!(
        "Python bridge overhead ({CALLS} calls each, Python {}, numpy {})",
        env.python_version, env.numpy_version
    );
    println!(
        "{:<38} {:>10} {:>10} {:>10}",
        "case", "median ms", "p90 ms", "target ms"
    );
    println!(
        "{:<38} {:>10.2} {:>10.2} {:>10}",
        "small call: small(41)",
        percentile(&small, 0.5),
        percentile(&small, 0.9),
        5
    );
    println!(
        "{:<38} {:>10.2} {:>10.2} {:>10}",
        "4096x64 f64 round trip: echo(a)",
        percentile(&round_trip, 0.5),
        percentile(&round_trip, 0.9),
        20
    );
    println!(
        "{:<38} {:>10.1}",
        "worker start + load_entry (once)", start_ms
    );
}
