//! Sampling text from the model, one byte at a time.

use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::TernaryError;
use crate::model::{ModelWeights, Qwen3Model};
use crate::tokenizer;

/// A prompt and what the model wrote after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The text sampling started from.
    pub prompt: String,
    /// The bytes sampled after it, decoded (lossily) as UTF-8.
    pub completion: String,
}

/// Samples `new_tokens` bytes after `prompt` from `softmax(logits / temperature)`
/// (`temperature = 0` takes the arg-max). The context is the last `max_seq_len` tokens; there is
/// no KV cache, each step reruns the window — fine for the short samples a report needs.
pub fn generate(
    model: &Qwen3Model,
    projected: &ModelWeights,
    prompt: &str,
    new_tokens: usize,
    temperature: f32,
    rng: &mut impl Rng,
) -> Result<Sample, TernaryError> {
    let mut tokens = tokenizer::encode(prompt);
    if tokens.is_empty() {
        return Err(TernaryError::Config(
            "an empty prompt has nothing to condition on".into(),
        ));
    }
    let prompt_len = tokens.len();
    let window = model.config().max_seq_len;
    for _ in 0..new_tokens {
        let context = &tokens[tokens.len().saturating_sub(window)..];
        let input = Array2::from_shape_vec((1, context.len()), context.to_vec())
            .expect("a 1 × len array holds len tokens");
        let logits = model.logits(projected, input.view())?;
        let last = logits.row(logits.nrows() - 1);
        let next = if temperature <= 0.0 {
            last.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &z)| {
                    if z > best.1 { (i, z) } else { best }
                })
                .0
        } else {
            let max = last.fold(f32::NEG_INFINITY, |m, &z| m.max(z));
            let weights: Vec<f64> = last
                .iter()
                .map(|&z| f64::from((z - max) / temperature).exp())
                .collect();
            let mut u = rng.random::<f64>() * weights.iter().sum::<f64>();
            let mut choice = weights.len() - 1;
            for (i, w) in weights.iter().enumerate() {
                if u < *w {
                    choice = i;
                    break;
                }
                u -= w;
            }
            choice
        };
        tokens.push(next);
    }
    Ok(Sample {
        prompt: prompt.to_string(),
        completion: tokenizer::decode(&tokens[prompt_len..]),
    })
}
