//! The one part of the contract that runs code: `score_nll(text) -> (total_nll_nats, n_tokens)`,
//! implemented by the Rust reference model loaded from its saved artifacts and by a Python
//! submission through the sandboxed bridge. Everything else a submission delivers is data
//! ([`crate::artifacts`]).

use std::path::Path;

use judge_core::Verdict;
use judge_runner::Value;
use judge_submission::{Session, call_error_verdict};
use ternary::TernaryError;
use ternary::model::{ModelWeights, Qwen3Model};
use ternary::train::{TrainingConfig, evaluate};

/// Scores text with the trained model.
pub trait Scorer {
    /// The summed negative log-likelihood (nats) of the tokens of `text` the model predicts,
    /// and how many it predicts.
    fn score_nll(&mut self, text: &str) -> Result<(f64, u64), Verdict>;
}

/// The reference model of a saved run, projected once.
pub struct Reference {
    model: Qwen3Model,
    projected: ModelWeights,
    seq_len: usize,
    batch_size: usize,
}

impl Reference {
    /// Loads the run saved in `dir` by `ternary::artifacts::save_artifacts`.
    pub fn load(dir: &Path) -> Result<Self, TernaryError> {
        let results: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(ternary::artifacts::RESULTS_FILE)).map_err(
                |source| TernaryError::Io {
                    path: dir.to_path_buf(),
                    source,
                },
            )?,
        )?;
        let training: TrainingConfig = serde_json::from_value(results["config"].clone())?;
        let (model, latent) = ternary::artifacts::load_model(dir)?;
        let projected = latent.project(model.config().group_size)?;
        Ok(Self {
            model,
            projected,
            seq_len: training.seq_len,
            batch_size: training.batch_size,
        })
    }
}

impl Scorer for Reference {
    fn score_nll(&mut self, text: &str) -> Result<(f64, u64), Verdict> {
        let tokens = ternary::tokenizer::encode(text);
        let evaluation = evaluate(
            &self.model,
            &self.projected,
            &tokens,
            self.seq_len,
            self.batch_size,
        )
        .map_err(|e| Verdict::harness_error(format!("reference scoring: {e}")))?;
        let n = evaluation.predicted_tokens;
        Ok((evaluation.nll * n as f64, n as u64))
    }
}

/// A Python submission's `score_nll`.
pub struct Python<'s> {
    session: &'s mut Session,
}

impl<'s> Python<'s> {
    pub fn new(session: &'s mut Session) -> Self {
        Self { session }
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Float(x) => Some(*x),
        Value::Int(n) => Some(*n as f64),
        Value::Array(_) => value
            .to_f64_array()
            .ok()
            .filter(|a| a.len() == 1)
            .and_then(|a| a.iter().next().copied()),
        _ => None,
    }
}

impl Scorer for Python<'_> {
    fn score_nll(&mut self, text: &str) -> Result<(f64, u64), Verdict> {
        let outcome = self
            .session
            .call(crate::ENTRY, vec![Value::Str(text.to_string())], Vec::new())
            .map_err(|e| call_error_verdict(&e))?;
        let wrong = || {
            Verdict::fail(format!(
                "{} returned {}; expected (total_nll_nats, n_tokens)",
                crate::ENTRY,
                outcome.value.type_name()
            ))
        };
        let (Value::Tuple(items) | Value::List(items)) = &outcome.value else {
            return Err(wrong());
        };
        let [total, count] = items.as_slice() else {
            return Err(wrong());
        };
        let (Some(total), Some(count)) = (number(total), number(count)) else {
            return Err(wrong());
        };
        if !(count >= 1.0 && count.fract() == 0.0) {
            return Err(Verdict::fail(format!(
                "{} returned n_tokens = {count}: not a positive count",
                crate::ENTRY
            )));
        }
        Ok((total, count as u64))
    }
}
