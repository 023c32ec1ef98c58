//! Trains the reference ternary model on a text file and prints the report.
//!
//! ```text
//! cargo run --release -p ternary --example train -- --data PATH [--config small|path-b]
//!     [--steps N] [--seed S] [--out DIR] [--no-progress]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use ternary::artifacts::save_artifacts;
use ternary::{TrainingConfig, train};

struct Args {
    data: PathBuf,
    config: String,
    steps: Option<usize>,
    seed: u64,
    out: Option<PathBuf>,
    progress: bool,
}

const USAGE: &str = "usage: train --data PATH [--config small|path-b] [--steps N] [--seed S] [--out DIR] [--no-progress]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data: PathBuf::new(),
        config: "small".into(),
        steps: None,
        seed: 0,
        out: None,
        progress: true,
    };
    let mut data = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--data" => data = Some(PathBuf::from(value()?)),
            "--config" => args.config = value()?,
            "--steps" => args.steps = Some(value()?.parse().map_err(|e| format!("--steps: {e}"))?),
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--out" => args.out = Some(PathBuf::from(value()?)),
            "--no-progress" => args.progress = false,
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    args.data = data.ok_or(USAGE)?;
    Ok(args)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let corpus =
        std::fs::read_to_string(&args.data).map_err(|e| format!("{}: {e}", args.data.display()))?;
    let mut config = match args.config.as_str() {
        "small" => TrainingConfig::small(args.seed),
        "path-b" => TrainingConfig::path_b(args.seed),
        other => return Err(format!("unknown config {other}\n{USAGE}")),
    };
    if let Some(steps) = args.steps {
        config.steps = steps;
        config.warmup_steps = config.warmup_steps.min(steps.div_ceil(10)).max(1);
    }
    println!(
        "config {}: {} parameters, {} steps of {}×{} bytes",
        args.config,
        config.model.n_parameters(),
        config.steps,
        config.batch_size,
        config.seq_len
    );
    let summary = train(&corpus, &config, args.progress).map_err(|e| e.to_string())?;
    let every = (summary.loss_log.len() / 10).max(1);
    for record in summary.loss_log.iter().step_by(every) {
        println!(
            "step {:5}  loss {:.4}  lr {:.2e}  |g| {:.3}",
            record.step, record.loss, record.lr, record.grad_norm
        );
    }
    println!(
        "loss: first 10% of steps {:.4}, last 10% {:.4}",
        summary.loss_first_10pct, summary.loss_last_10pct
    );
    println!("split: {}", summary.split.description);
    println!(
        "validation perplexity {:.3} (before training {:.3}); unigram baseline {:.3}",
        summary.validation.perplexity,
        summary.validation_before_training.perplexity,
        summary.unigram_perplexity
    );
    for sample in &summary.samples {
        println!("sample {:?} → {:?}", sample.prompt, sample.completion);
    }
    let worst = summary
        .ternary_layers
        .iter()
        .map(|l| l.report.max_code_deviation)
        .fold(0.0f32, f32::max);
    println!(
        "ternary: all {} layers verified, max |W_q/s − round(W_q/s)| = {worst:e}",
        summary.ternary_layers.len()
    );
    println!(
        "wall {:.1} s, {:.0} training tokens/s",
        summary.wall_seconds, summary.train_tokens_per_second
    );
    if let Some(out) = args.out {
        let paths = save_artifacts(&summary, &out).map_err(|e| e.to_string())?;
        println!(
            "artifacts: {}",
            paths.results.parent().unwrap_or(&out).display()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
