//! The training loop: ternary forward, straight-through backward, AdamW, and the report.
//!
//! ```text
//! for each step:
//!     Ŵ      = project(W)                  every ternary tensor, group 128, s = mean|W|
//!     L, ∇Ŵ  = loss_and_gradients(Ŵ, batch)
//!     ∇W     = ∇Ŵ                          straight-through estimator, s constant
//!     clip ‖∇W‖₂ to grad_clip;  W ← AdamW(W, ∇W, lr(step))
//! ```

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::data::{self, CorpusSplit, SplitInfo};
use crate::error::TernaryError;
use crate::generate::{self, Sample};
use crate::model::{ModelConfig, ModelWeights, Qwen3Model, TensorKind};
use crate::optim::{AdamW, AdamWConfig, LrSchedule, clip_global_norm};
use crate::quant::{self, TernaryReport};

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingConfig {
    /// Architecture of the decoder.
    pub model: ModelConfig,
    /// Sequences per step.
    pub batch_size: usize,
    /// Tokens per training window (inputs; targets are shifted by one).
    pub seq_len: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Learning rate at the end of warm-up.
    pub peak_lr: f32,
    /// Learning rate the cosine decays to.
    pub min_lr: f32,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// AdamW hyper-parameters.
    pub optimizer: AdamWConfig,
    /// Bound on the global gradient norm.
    pub grad_clip: f32,
    /// Seed of the weight initialisation, batch draws and sampling.
    pub seed: u64,
    /// Fraction of the corpus, taken from its end, held out for validation.
    pub validation_fraction: f64,
    /// Prompts of the text samples in the report.
    pub sample_prompts: Vec<String>,
    /// Bytes sampled after each prompt.
    pub sample_tokens: usize,
    /// Softmax temperature of the samples (0 = arg-max).
    pub sample_temperature: f32,
}

fn default_prompts() -> Vec<String> {
    [
        "The ",
        "In 1969, ",
        "Water is ",
        "The history of ",
        "Scientists ",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

const DEFAULT_OPTIMIZER: AdamWConfig = AdamWConfig {
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weight_decay: 0.05,
};

impl TrainingConfig {
    /// The under-a-minute configuration: [`ModelConfig::small`], batches of 16 × 64 bytes.
    ///
    /// Ternary weights learn with a larger learning rate than full-precision ones (BitNet b1.58
    /// uses ~1.5e-3 at 700M parameters and more for smaller models): a latent weight has to move
    /// across a rounding threshold before the forward pass sees any change.
    pub fn small(seed: u64) -> Self {
        Self {
            model: ModelConfig::small(),
            batch_size: 16,
            seq_len: 64,
            steps: 400,
            peak_lr: 4e-3,
            min_lr: 4e-4,
            warmup_steps: 30,
            optimizer: DEFAULT_OPTIMIZER,
            grad_clip: 1.0,
            seed,
            validation_fraction: 0.1,
            sample_prompts: default_prompts(),
            sample_tokens: 120,
            sample_temperature: 0.7,
        }
    }

    /// The prompt's Path-B run: [`ModelConfig::path_b`], batches of 16 × 128 bytes, 1000 steps.
    pub fn path_b(seed: u64) -> Self {
        Self {
            model: ModelConfig::path_b(),
            batch_size: 16,
            seq_len: 128,
            steps: 1000,
            peak_lr: 1.5e-3,
            min_lr: 1.5e-4,
            warmup_steps: 100,
            optimizer: DEFAULT_OPTIMIZER,
            grad_clip: 1.0,
            seed,
            validation_fraction: 0.1,
            sample_prompts: default_prompts(),
            sample_tokens: 120,
            sample_temperature: 0.7,
        }
    }

    /// Checks the model, `1 ≤ seq_len ≤ max_seq_len`, positive `batch_size`, `steps` and
    /// `warmup_steps`, `0 ≤ min_lr ≤ peak_lr`, `peak_lr > 0` and `grad_clip > 0`.
    pub fn validate(&self) -> Result<(), TernaryError> {
        self.model.validate()?;
        if self.seq_len == 0 || self.seq_len > self.model.max_seq_len {
            return Err(TernaryError::Config(format!(
                "seq_len {} must lie in 1..={}",
                self.seq_len, self.model.max_seq_len
            )));
        }
        if self.batch_size == 0 || self.steps == 0 || self.warmup_steps == 0 {
            return Err(TernaryError::Config(
                "batch_size, steps and warmup_steps must be positive".into(),
            ));
        }
        if !(self.peak_lr > 0.0
            && self.min_lr >= 0.0
            && self.min_lr <= self.peak_lr
            && self.grad_clip > 0.0)
        {
            return Err(TernaryError::Config(format!(
                "need 0 ≤ min_lr ≤ peak_lr, 0 < peak_lr and grad_clip > 0: {self:?}"
            )));
        }
        Ok(())
    }

    /// The warm-up + cosine schedule these settings describe.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            peak: self.peak_lr,
            min: self.min_lr,
            warmup_steps: self.warmup_steps,
            total_steps: self.steps,
        }
    }
}

/// One line of the loss log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 0-based step index.
    pub step: usize,
    /// Mean cross-entropy (nats per byte) of the step's batch, before the update.
    pub loss: f64,
    /// Learning rate used for the update.
    pub lr: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds since the run started.
    pub elapsed_s: f64,
}

/// Mean negative log-likelihood over a token sequence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Nats per predicted token.
    pub nll: f64,
    /// `exp(nll)`.
    pub perplexity: f64,
    /// Tokens scored.
    pub predicted_tokens: usize,
}

/// Verification of one ternary layer, recomputed from its latent weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerVerification {
    /// Hugging Face name of the tensor.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// What [`quant::verify_ternary`] found.
    pub report: TernaryReport,
}

/// What a training run produced.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingSummary {
    /// The configuration trained with.
    pub config: TrainingConfig,
    /// How the corpus was split.
    pub split: SplitInfo,
    /// One record per step.
    pub loss_log: Vec<StepRecord>,
    /// Mean loss of the first and the last 10% of the steps.
    pub loss_first_10pct: f64,
    /// Mean loss of the last 10% of the steps.
    pub loss_last_10pct: f64,
    /// Validation NLL and perplexity of the initial weights.
    pub validation_before_training: Evaluation,
    /// Validation NLL and perplexity after training.
    pub validation: Evaluation,
    /// Perplexity of the byte-frequency model of the training part on the validation part.
    pub unigram_perplexity: f64,
    /// Text sampled from the trained model.
    pub samples: Vec<Sample>,
    /// Every ternary layer, embedding and LM head included.
    pub ternary_layers: Vec<LayerVerification>,
    /// Seconds of the whole run, evaluation and sampling included.
    pub wall_seconds: f64,
    /// Training tokens (`steps · batch_size · seq_len`) per second of training.
    pub train_tokens_per_second: f64,
    /// The trained latent weights (saved as .npz, not in the JSON).
    #[serde(skip)]
    pub latent: ModelWeights,
}

/// Mean NLL of `tokens` under the model, over the windows of [`data::evaluation_windows`].
pub fn evaluate(
    model: &Qwen3Model,
    projected: &ModelWeights,
    tokens: &[usize],
    seq_len: usize,
    batch_size: usize,
) -> Result<Evaluation, TernaryError> {
    let windows = data::evaluation_windows(tokens, seq_len);
    let mut total = 0.0;
    let mut count = 0;
    // Full-length windows go in batches; the shorter last one alone.
    let (full, short): (Vec<_>, Vec<_>) =
        windows.into_iter().partition(|(i, _)| i.len() == seq_len);
    let batches = full
        .chunks(batch_size.max(1))
        .map(|c| c.to_vec())
        .chain(short.into_iter().map(|w| vec![w]));
    for batch in batches {
        let len = batch[0].0.len();
        let stack = |rows: Vec<usize>| {
            Array2::from_shape_vec((batch.len(), len), rows)
                .expect("windows of one batch have one length")
        };
        let inputs = stack(batch.iter().flat_map(|(i, _)| i.iter().copied()).collect());
        let targets = stack(batch.iter().flat_map(|(_, t)| t.iter().copied()).collect());
        let nll = model.token_nll(projected, inputs.view(), targets.view())?;
        total += nll.iter().sum::<f64>();
        count += nll.len();
    }
    if count == 0 {
        return Err(TernaryError::Corpus(
            "nothing to evaluate: fewer than two tokens".into(),
        ));
    }
    let nll = total / count as f64;
    Ok(Evaluation {
        nll,
        perplexity: nll.exp(),
        predicted_tokens: count,
    })
}

/// Recomputes the projection of every ternary tensor of `latent` and checks it.
pub fn verify_all_layers(
    latent: &ModelWeights,
    group_size: usize,
) -> Result<Vec<LayerVerification>, TernaryError> {
    latent
        .tensors()
        .into_iter()
        .filter(|t| t.kind == TensorKind::Ternary)
        .map(|t| {
            let values = t.value.as_slice().expect("owned weights are contiguous");
            Ok(LayerVerification {
                report: quant::verify_ternary(values, group_size)?,
                shape: t.value.shape().to_vec(),
                name: t.name,
            })
        })
        .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    sum / n.max(1) as f64
}

fn progress_bar(steps: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
        )
        .expect("the template is a valid indicatif template"),
    );
    bar
}

/// What the forward pass runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightPrecision {
    /// The ternary projection of the latent weights (the reference, and what the prompt asks).
    Ternary,
    /// The latent f32 weights as they are: the full-precision twin, trained with the same
    /// configuration, seed and data order, so the two perplexities measure what ternary costs.
    FullPrecision,
}

/// Trains a ternary model from scratch on `corpus` (bytes) and evaluates it.
pub fn train(
    corpus: &str,
    config: &TrainingConfig,
    progress: bool,
) -> Result<TrainingSummary, TernaryError> {
    train_with_precision(corpus, config, WeightPrecision::Ternary, progress)
}

/// [`train`] with the forward pass at `precision`. The full-precision twin reports no ternary
/// layers (it has none).
pub fn train_with_precision(
    corpus: &str,
    config: &TrainingConfig,
    precision: WeightPrecision,
    progress: bool,
) -> Result<TrainingSummary, TernaryError> {
    config.validate()?;
    let started = Instant::now();
    let split = CorpusSplit::new(corpus, config.validation_fraction, config.seq_len)?;
    let model = Qwen3Model::new(config.model.clone())?;
    let group_size = config.model.group_size;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut latent = ModelWeights::init(&config.model, &mut rng)?;
    // The weights the forward pass runs with: Ŵ = project(W), or W itself for the twin.
    let forward_weights = |latent: &ModelWeights, into: &mut ModelWeights| match precision {
        WeightPrecision::Ternary => latent.project_into(group_size, into),
        WeightPrecision::FullPrecision => {
            into.clone_from(latent);
            Ok(())
        }
    };
    let mut projected = latent.clone();
    forward_weights(&latent, &mut projected)?;
    let validation_before_training = evaluate(
        &model,
        &projected,
        &split.validation,
        config.seq_len,
        config.batch_size,
    )?;
    let mut optimizer = AdamW::new(&config.model, config.optimizer);
    let schedule = config.schedule();
    let bar = progress_bar(config.steps, progress);
    let mut loss_log = Vec::with_capacity(config.steps);
    let train_started = Instant::now();

    for step in 0..config.steps {
        let (inputs, targets) =
            split.training_batch(config.batch_size, config.seq_len, &mut rng)?;
        forward_weights(&latent, &mut projected)?;
        let (loss, mut grads) =
            model.loss_and_gradients(&projected, inputs.view(), targets.view())?;
        if !loss.is_finite() {
            return Err(TernaryError::Diverged { step, loss });
        }
        let grad_norm = clip_global_norm(&mut grads, config.grad_clip);
        let lr = schedule.at(step);
        optimizer.step(&mut latent, &grads, lr);
        loss_log.push(StepRecord {
            step,
            loss,
            lr,
            grad_norm,
            elapsed_s: started.elapsed().as_secs_f64(),
        });
        bar.set_message(format!("loss {loss:.3}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let train_seconds = train_started.elapsed().as_secs_f64();

    forward_weights(&latent, &mut projected)?;
    let validation = evaluate(
        &model,
        &projected,
        &split.validation,
        config.seq_len,
        config.batch_size,
    )?;
    let unigram_perplexity = data::unigram_perplexity(&split.train, &split.validation);
    let samples = config
        .sample_prompts
        .iter()
        .map(|prompt| {
            generate::generate(
                &model,
                &projected,
                prompt,
                config.sample_tokens,
                config.sample_temperature,
                &mut rng,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ternary_layers = match precision {
        WeightPrecision::Ternary => verify_all_layers(&latent, group_size)?,
        WeightPrecision::FullPrecision => Vec::new(),
    };
    let tenth = (config.steps / 10).max(1);
    Ok(TrainingSummary {
        loss_first_10pct: mean(loss_log[..tenth].iter().map(|r| r.loss)),
        loss_last_10pct: mean(loss_log[config.steps - tenth..].iter().map(|r| r.loss)),
        split: split.info(),
        config: config.clone(),
        loss_log,
        validation_before_training,
        validation,
        unigram_perplexity,
        samples,
        ternary_layers,
        wall_seconds: started.elapsed().as_secs_f64(),
        train_tokens_per_second: (config.steps * config.batch_size * config.seq_len) as f64
            / train_seconds,
        latent,
    })
}

/// The small configuration ([`TrainingConfig::small`]) on `corpus`: under a minute in release
/// mode on two cores.
pub fn run_small(corpus: &str, seed: u64, progress: bool) -> Result<TrainingSummary, TernaryError> {
    train(corpus, &TrainingConfig::small(seed), progress)
}
