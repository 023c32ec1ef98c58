//! What ternary costs in quality: the reference model trained twice in one run on the real
//! corpus — ternary, and its full-precision twin (projection off) — with the same
//! configuration, seed, data order and step count. Reports both validation perplexities and
//! their ratio (goal ≤ 1.2 at the small configuration; BitNet b1.58 reports +4.4% at 700M
//! parameters and parity at 3B, and small models are known to lose more).
//!
//! ```text
//! cargo bench -p ternary --bench precision_twin [-- --data ../shared/data/train_data.txt --steps N]
//! ```
//!
//! Without a corpus (none given and none at ../shared/data/train_data.txt) it says so and
//! exits 0: the corpus is never copied into the repository.

use std::path::PathBuf;

use ternary::{TrainingConfig, WeightPrecision, train_with_precision};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.windows(2)
            .find(|pair| pair[0] == flag)
            .map(|pair| pair[1].clone())
    };
    let data = value("--data").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/train_data.txt")
    });
    let Ok(corpus) = std::fs::read_to_string(&data) else {
        println!(
            "precision_twin: no corpus at {} (pass --data FILE); nothing measured",
            data.display()
        );
        return;
    };
    let mut config = TrainingConfig::small(0);
    if let Some(steps) = value("--steps").and_then(|s| s.parse().ok()) {
        config.steps = steps;
    }
    println!(
        "small config: {} layers, d_model {}, batch {} × {} bytes, {} steps, seed {}",
        config.model.n_layers,
        config.model.d_model,
        config.batch_size,
        config.seq_len,
        config.steps,
        config.seed
    );
    println!("| weights | validation perplexity | train tokens/s |");
    println!("|---|---|---|");
    let mut perplexity = Vec::new();
    for (label, precision) in [
        ("ternary", WeightPrecision::Ternary),
        ("f32 twin", WeightPrecision::FullPrecision),
    ] {
        let summary = train_with_precision(&corpus, &config, precision, false)
            .unwrap_or_else(|e| panic!("{label} run failed: {e}"));
        println!(
            "| {label} | {:.3} | {:.0} |",
            summary.validation.perplexity, summary.train_tokens_per_second
        );
        perplexity.push(summary.validation.perplexity);
    }
    println!(
        "\nternary / f32 perplexity = {:.3} (goal ≤ 1.2)",
        perplexity[0] / perplexity[1]
    );
}
