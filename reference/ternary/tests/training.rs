//! End-to-end: a tiny model trains on a generated corpus, deterministically, and its artifacts
//! read back and verify.

use ndarray::Array2;
use ternary::artifacts::{
    load_latent_weights, load_model, load_packed_weights, rescore_validation, save_artifacts,
};
use ternary::model::{ModelConfig, TensorKind};
use ternary::quant::verify_packed_against_latent;
use ternary::train::{TrainingConfig, WeightPrecision, train, train_with_precision};

/// A corpus with structure a tiny model can learn quickly: a few sentences in a fixed cycle.
fn generated_corpus() -> String {
    let sentences = [
        "the cat sat on the mat. ",
        "a dog ran in the park. ",
        "birds sing at dawn. ",
        "the sun sets in the west. ",
    ];
    (0..300).map(|i| sentences[i % sentences.len()]).collect()
}

fn tiny_config(seed: u64) -> TrainingConfig {
    TrainingConfig {
        model: ModelConfig {
            vocab_size: 256,
            d_model: 32,
            n_layers: 1,
            n_heads: 2,
            n_kv_heads: 1,
            head_dim: 16,
            ffn_dim: 64,
            max_seq_len: 16,
            rope_theta: 10_000.0,
            norm_eps: 1e-6,
            group_size: 128,
        },
        batch_size: 8,
        seq_len: 16,
        steps: 120,
        peak_lr: 1e-2,
        min_lr: 1e-3,
        warmup_steps: 10,
        sample_prompts: vec!["the ".into(), "a dog".into(), "birds".into()],
        sample_tokens: 20,
        ..TrainingConfig::small(seed)
    }
}

#[test]
fn tiny_run_learns_the_pattern() {
    let summary = train(&generated_corpus(), &tiny_config(3), false).unwrap();
    eprintln!(
        "loss {:.3} -> {:.3}, validation perplexity {:.3}, unigram {:.3}",
        summary.loss_first_10pct,
        summary.loss_last_10pct,
        summary.validation.perplexity,
        summary.unigram_perplexity
    );
    assert_eq!(summary.loss_log.len(), 120);
    assert!(
        summary.loss_last_10pct < 0.6 * summary.loss_first_10pct,
        "loss fell from {} to only {}",
        summary.loss_first_10pct,
        summary.loss_last_10pct
    );
    assert!(
        summary.validation.perplexity < 0.5 * summary.unigram_perplexity,
        "validation perplexity {} vs unigram {}",
        summary.validation.perplexity,
        summary.unigram_perplexity
    );
    assert!(summary.validation.perplexity < summary.validation_before_training.perplexity);
    assert_eq!(summary.samples.len(), 3);
    // Every ternary tensor is verified: 2 (embedding, head) + 7 per block.
    assert_eq!(summary.ternary_layers.len(), 2 + 7);
    assert!(
        summary
            .ternary_layers
            .iter()
            .all(|l| l.report.max_code_deviation < 1e-5)
    );
}

#[test]
fn fixed_seed_is_deterministic() {
    let corpus = generated_corpus();
    let config = TrainingConfig {
        steps: 15,
        ..tiny_config(11)
    };
    let a = train(&corpus, &config, false).unwrap();
    let b = train(&corpus, &config, false).unwrap();
    let losses =
        |s: &ternary::TrainingSummary| s.loss_log.iter().map(|r| r.loss).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    assert_eq!(a.latent, b.latent);
    assert_eq!(a.samples, b.samples);
    let c = train(&corpus, &TrainingConfig { seed: 12, ..config }, false).unwrap();
    assert_ne!(losses(&a), losses(&c));
}

#[test]
fn artifacts_read_back_and_verify() {
    let corpus = generated_corpus();
    let summary = train(
        &corpus,
        &TrainingConfig {
            steps: 10,
            ..tiny_config(5)
        },
        false,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = save_artifacts(&summary, dir.path()).unwrap();

    let latent = load_latent_weights(&paths.latent_weights).unwrap();
    let packed = load_packed_weights(&paths.packed_weights).unwrap();
    let tensors = summary.latent.tensors();
    assert_eq!(latent.len(), tensors.len());
    for tensor in &tensors {
        let saved = &latent[&tensor.name];
        assert_eq!(saved.view(), tensor.value);
        match tensor.kind {
            TensorKind::Ternary => {
                let layer = &packed[&tensor.name];
                assert_eq!(layer.shape, tensor.value.shape());
                assert_eq!(layer.group_size, 128);
                verify_packed_against_latent(saved.as_slice().unwrap(), layer).unwrap();
            }
            TensorKind::Norm => assert!(!packed.contains_key(&tensor.name)),
        }
    }

    let log = std::fs::read_to_string(&paths.loss_log).unwrap();
    assert_eq!(log.lines().count(), 10);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.results).unwrap()).unwrap();
    assert_eq!(results["quantization"]["group_size"], 128);
    assert_eq!(results["architecture"]["query_heads_per_kv_head"], 2);
    assert_eq!(results["loss_log"].as_array().unwrap().len(), 10);

    // Re-scoring the saved weights on the same corpus reproduces the reported perplexity.
    let rescored = rescore_validation(dir.path(), &corpus).unwrap();
    assert_eq!(rescored, summary.validation);

    // The reloaded model scores text exactly like the trained one.
    let (model, weights) = load_model(dir.path()).unwrap();
    assert_eq!(weights, summary.latent);
    let tokens = Array2::from_shape_vec((1, 8), ternary::tokenizer::encode("the cat ")).unwrap();
    let projected = weights.project(128).unwrap();
    let reference = summary.latent.project(128).unwrap();
    assert_eq!(
        model.logits(&projected, tokens.view()).unwrap(),
        model.logits(&reference, tokens.view()).unwrap()
    );
}

#[test]
fn invalid_configurations_are_errors() {
    let corpus = generated_corpus();
    assert!(
        train(
            &corpus,
            &TrainingConfig {
                seq_len: 17,
                ..tiny_config(0)
            },
            false
        )
        .is_err()
    );
    assert!(
        train(
            &corpus,
            &TrainingConfig {
                steps: 0,
                ..tiny_config(0)
            },
            false
        )
        .is_err()
    );
    assert!(train("too short", &tiny_config(0), false).is_err());
}

#[test]
fn the_full_precision_twin_shares_everything_but_the_projection() {
    let corpus = generated_corpus();
    let config = TrainingConfig {
        steps: 15,
        ..tiny_config(5)
    };
    let ternary = train(&corpus, &config, false).unwrap();
    let same = train_with_precision(&corpus, &config, WeightPrecision::Ternary, false).unwrap();
    let twin =
        train_with_precision(&corpus, &config, WeightPrecision::FullPrecision, false).unwrap();
    let losses =
        |s: &ternary::TrainingSummary| s.loss_log.iter().map(|r| r.loss).collect::<Vec<_>>();
    assert_eq!(
        losses(&ternary),
        losses(&same),
        "train() is the ternary run"
    );
    // Same seed, so the same initial weights and data: the first step's loss differs only by
    // the projection, and the runs part from there.
    assert_ne!(losses(&ternary)[0], losses(&twin)[0]);
    assert_ne!(losses(&ternary), losses(&twin));
    assert!(twin.validation.perplexity.is_finite());
    assert!(twin.ternary_layers.is_empty());
    assert!(!ternary.ternary_layers.is_empty());
    // The twin trained its f32 weights: its validation perplexity is not that of the untrained
    // model.
    assert!(twin.validation.perplexity < twin.validation_before_training.perplexity);
}
