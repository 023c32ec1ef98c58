//! The reference's full-precision twin: the same model, configuration, seed and data order with
//! the projection off. Its validation perplexity beside the ternary reference's says what
//! ternary costs on the corpus graded against. It is evidence in the reference's notes, never a
//! criterion: a submission has no twin to compare with.

use ternary::train::{Evaluation, TrainingConfig};
use ternary::{TernaryError, WeightPrecision, train_with_precision};

/// The ternary reference's validation perplexity and its twin's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionTwin {
    /// The ternary reference's validation perplexity.
    pub ternary_perplexity: f64,
    /// The full-precision twin's, on the same validation split.
    pub full_precision_perplexity: f64,
    /// Training steps of each run.
    pub steps: usize,
}

impl PrecisionTwin {
    /// Trains the twin of a ternary run with `config` on `corpus` that reached `ternary`.
    pub fn train(
        corpus: &str,
        config: &TrainingConfig,
        ternary: &Evaluation,
        progress: bool,
    ) -> Result<Self, TernaryError> {
        let twin = train_with_precision(corpus, config, WeightPrecision::FullPrecision, progress)?;
        Ok(Self {
            ternary_perplexity: ternary.perplexity,
            full_precision_perplexity: twin.validation.perplexity,
            steps: config.steps,
        })
    }

    /// Ternary perplexity over the twin's (1.0: ternary costs nothing).
    pub fn ratio(&self) -> f64 {
        self.ternary_perplexity / self.full_precision_perplexity
    }

    /// The line in the reference's notes.
    pub fn note(&self) -> String {
        format!(
            "f32 twin (projection off; same config, seed, data order, {} steps; trained beside the reference, which doubles its time): validation perplexity {:.3} ternary vs {:.3} f32, ratio {:.3} (evidence, not a criterion)",
            self.steps,
            self.ternary_perplexity,
            self.full_precision_perplexity,
            self.ratio()
        )
    }
}
