//! Training-step throughput at the prompt's Path-B size beside the machine's f32 matmul rate,
//! measured in the same run.
//!
//! ```text
//! cargo bench -p ternary --bench train_step [-- --seq 128 --steps 3 --batch 16]
//! ```
//!
//! The matmul reference is `ndarray` `.dot` (matrixmultiply with its avx512 kernels, one thread)
//! on the model's largest GEMM, `[batch·seq, d_model] · [ffn, d_model]ᵀ` (before and after the
//! steps; the ratio uses the better of the two), and on 1024³. The step
//! is everything the trainer does per step: ternary projection of every layer, forward, backward,
//! gradient clipping and AdamW. Its GFLOP/s counts the matmul FLOPs of forward + backward
//! ([`ModelConfig::training_flops`]); the target is ≥ 30% of the matmul rate.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ndarray::Array2;
use rand::{Rng, SeedableRng, rngs::StdRng};
use ternary::model::{ModelConfig, ModelWeights, Qwen3Model};
use ternary::optim::{AdamW, AdamWConfig, clip_global_norm};

struct Options {
    batch: usize,
    seq_len: usize,
    steps: usize,
}

fn options() -> Options {
    let mut o = Options {
        batch: 16,
        seq_len: 128,
        steps: 3,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        let value = pair[1].parse::<usize>();
        match (pair[0].as_str(), value) {
            ("--batch", Ok(v)) => o.batch = v,
            ("--seq", Ok(v)) => o.seq_len = v,
            ("--steps", Ok(v)) => o.steps = v.max(1),
            _ => {}
        }
    }
    o
}

fn random_matrix(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.0..1.0))
}

/// Best-of-`repeats` GFLOP/s of `x · wᵀ` (the layout of the model's linear maps).
fn matmul_gflops(m: usize, k: usize, n: usize, repeats: usize, rng: &mut StdRng) -> f64 {
    let x = random_matrix(m, k, rng);
    let w = random_matrix(n, k, rng);
    black_box(x.dot(&w.t()));
    let best = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            black_box(x.dot(&w.t()));
            t.elapsed()
        })
        .min()
        .unwrap_or(Duration::MAX);
    2.0 * (m * k * n) as f64 / best.as_secs_f64() / 1e9
}

fn main() {
    let o = options();
    let config = ModelConfig {
        max_seq_len: o.seq_len.max(ModelConfig::path_b().max_seq_len),
        ..ModelConfig::path_b()
    };
    let mut rng = StdRng::seed_from_u64(0);
    let tokens = o.batch * o.seq_len;

    // Measured before and after the steps; the better figure is the reference, so a machine that
    // got busier during the run cannot flatter the ratio.
    let gemm_model_before = matmul_gflops(tokens, config.d_model, config.ffn_dim, 5, &mut rng);
    let gemm_square = matmul_gflops(1024, 1024, 1024, 5, &mut rng);

    let model = Qwen3Model::new(config.clone()).expect("Path-B configuration is valid");
    let mut latent = ModelWeights::init(&config, &mut rng).expect("valid configuration");
    let mut projected = latent.clone();
    let mut adam = AdamW::new(
        &config,
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.05,
        },
    );
    let batch = |rng: &mut StdRng| {
        Array2::from_shape_simple_fn((o.batch, o.seq_len), || rng.random_range(0..256))
    };
    let (mut project_time, mut model_time, mut optimizer_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    // One untimed step warms caches and the allocator.
    for step in 0..=o.steps {
        let (inputs, targets) = (batch(&mut rng), batch(&mut rng));
        let t0 = Instant::now();
        latent
            .project_into(config.group_size, &mut projected)
            .expect("shapes match");
        let t1 = Instant::now();
        let (loss, mut grads) = model
            .loss_and_gradients(&projected, inputs.view(), targets.view())
            .expect("valid batch");
        let t2 = Instant::now();
        clip_global_norm(&mut grads, 1.0);
        adam.step(&mut latent, &grads, 1e-3);
        let t3 = Instant::now();
        black_box(loss);
        if step > 0 {
            project_time += t1 - t0;
            model_time += t2 - t1;
            optimizer_time += t3 - t2;
        }
    }
    let gemm_model_after = matmul_gflops(tokens, config.d_model, config.ffn_dim, 5, &mut rng);
    let gemm_model = gemm_model_before.max(gemm_model_after);
    let steps = o.steps as f64;
    let step_seconds = (project_time + model_time + optimizer_time).as_secs_f64() / steps;
    let flops = config.training_flops(o.batch, o.seq_len);
    let step_gflops = flops / step_seconds / 1e9;

    println!(
        "Path-B: {} layers, d_model {}, {} heads / {} KV heads, ffn {}, vocab {}, {} parameters; batch {} × seq {}",
        config.n_layers,
        config.d_model,
        config.n_heads,
        config.n_kv_heads,
        config.ffn_dim,
        config.vocab_size,
        config.n_parameters(),
        o.batch,
        o.seq_len
    );
    println!("{:<44} {:>12}", "measure", "value");
    println!(
        "{:<44} {:>5.1} / {:>5.1}",
        "matmul GFLOP/s, [N,512]·[1536,512]ᵀ before/after", gemm_model_before, gemm_model_after
    );
    println!("{:<44} {:>12.1}", "matmul GFLOP/s, 1024³", gemm_square);
    println!(
        "{:<44} {:>12.3}",
        "step seconds (mean of timed steps)", step_seconds
    );
    println!(
        "{:<44} {:>12.3}",
        "  projection seconds",
        project_time.as_secs_f64() / steps
    );
    println!(
        "{:<44} {:>12.3}",
        "  forward + backward seconds",
        model_time.as_secs_f64() / steps
    );
    println!(
        "{:<44} {:>12.3}",
        "  clip + AdamW seconds",
        optimizer_time.as_secs_f64() / steps
    );
    println!("{:<44} {:>12.1}", "training GFLOP per step", flops / 1e9);
    println!("{:<44} {:>12.0}", "tokens/s", tokens as f64 / step_seconds);
    println!("{:<44} {:>12.1}", "training step GFLOP/s", step_gflops);
    println!(
        "{:<44} {:>11.0}%",
        "step / model-shaped matmul rate (target ≥ 30%)",
        100.0 * step_gflops / gemm_model
    );
}
