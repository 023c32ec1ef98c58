//! The search itself.
//!
//! Per batch item, per step:
//!
//! ```text
//! pool  = { finished beams, unchanged }                                 (EOS retention)
//!       ∪ { (beam + t, acc + log_softmax(logits(beam))[t]) :
//!           beam unfinished, t among the beam's top-2K next tokens }
//! beams = top-K of pool by  score = acc / generated_len^alpha
//! ```
//!
//! until every beam of every item is finished or `max_new_tokens` steps were taken.
//!
//! Readings of the prompt where it is ambiguous, each chosen so that its rule 4 and Test 3
//! hold:
//!
//! 1. **Pool ranking uses the length-penalized score**, not raw `acc`. Rule 2 says "sort by total
//!    logprob", but rule 4 says finished beams "must compete against unfinished beams using
//!    their length-penalized scores" and rule 3 says the penalty is used for "ranking/selection".
//!    With `alpha = 0` (Tests 1 and 3) both readings coincide.
//! 2. **The EOS token is part of the returned sequence and counts in its length**: its log-prob
//!    is inside the beam's accumulated log-prob (Test 3's "EOS beam with total logprob −3.0"),
//!    and rule 5 scores with `len(seq)`, so `score = acc / len(tokens)^alpha` exactly.
//! 3. **Length = generated tokens only** (the prompt never counts), so every candidate has
//!    length ≥ 1 and `len^alpha` is never `0^alpha`.
//! 4. **Ties are deterministic**: each unfinished beam's candidates are taken in descending
//!    log-prob, lower token id first; the pool lists beams in their current rank order (a
//!    finished beam in its own slot, an unfinished one replaced by its candidates), and a stable
//!    sort keeps that order among equal scores — i.e. earlier beam, then lower token id.
//! 5. **The search starts from ONE beam per item** (the bare prompt, acc 0): K copies of it would
//!    fill the first pool with duplicates.
//! 6. **Impossible continuations** (log-prob `-inf`) never enter the pool, so an item can hold
//!    fewer than K hypotheses when its vocabulary is tiny — "return whatever is available".
//!
//! Why top-2K per beam: in implementations where an EOS candidate leaves the beam set (Hugging
//! Face style), 2K candidates guarantee K unfinished ones. Here finished beams keep their slot
//! in the pool, so the global top-K never takes more than K candidates from one beam, and top-K
//! per beam would select the same beams; the prompt asks for 2K and costs nothing, so 2K it is.

use ndarray::ArrayView1;
use tiny_lm::{LanguageModel, ModelError, log_softmax};

/// One returned sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated tokens only (no prompt); ends with the EOS token when `finished`.
    pub tokens: Vec<u32>,
    /// Accumulated log-probability `Σ log p(token | context)`: never length-penalized.
    pub log_prob: f64,
    /// Ranking score `log_prob / tokens.len()^alpha`.
    pub score: f64,
    /// Whether the sequence ended with EOS (false when `max_new_tokens` cut it off).
    pub finished: bool,
}

/// Invalid arguments to [`batched_beam_search`], or a model that misbehaved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BeamError {
    /// `beam_width` is 0.
    #[error("beam_width must be at least 1")]
    ZeroBeamWidth,
    /// `max_new_tokens` is 0.
    #[error("max_new_tokens must be at least 1: a score of zero generated tokens is 0/0^alpha")]
    ZeroMaxNewTokens,
    /// `alpha` is NaN or ±∞.
    #[error("alpha must be finite, got {0}")]
    NonFiniteAlpha(f64),
    /// A prompt has no tokens.
    #[error("prompt {item} is empty: there is no context to predict from")]
    EmptyPrompt {
        /// Index of the empty prompt.
        item: usize,
    },
    /// `eos_token_id` is not below the model's vocabulary size.
    #[error("eos_token_id {eos} is outside the vocabulary of size {vocab_size}")]
    EosOutOfVocabulary {
        /// The EOS token given.
        eos: u32,
        /// The model's vocabulary size.
        vocab_size: usize,
    },
    /// The batched model call returned logits of the wrong shape.
    #[error("the model returned logits of shape {got:?}, expected {expected:?}")]
    LogitsShape {
        /// `(rows, columns)` returned.
        got: (usize, usize),
        /// `(unfinished beams, vocab_size)`.
        expected: (usize, usize),
    },
    /// A log-softmax row holds NaN: the logits held NaN or +∞.
    #[error("the model returned logits whose log-softmax is NaN (NaN or +inf logits)")]
    NanLogProbs,
    /// The model refused the call.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// `acc / generated_len^alpha`: the ranking score. `generated_len` excludes the prompt.
pub fn length_penalized_score(log_prob: f64, generated_len: usize, alpha: f64) -> f64 {
    log_prob / (generated_len as f64).powf(alpha)
}

#[derive(Debug, Clone)]
struct Beam {
    tokens: Vec<u32>,
    log_prob: f64,
    score: f64,
    finished: bool,
}

impl Beam {
    fn into_hypothesis(self) -> Hypothesis {
        Hypothesis {
            tokens: self.tokens,
            log_prob: self.log_prob,
            score: self.score,
            finished: self.finished,
        }
    }
}

/// Batched beam search; returns, per prompt, up to `beam_width` hypotheses sorted best first.
///
/// Each step makes ONE batched model call ([`LanguageModel::next_token_logits_batch`]) over the
/// unfinished beams of all items; the items never share a pool, so an item's result is the
/// same alone or in any batch. See the module documentation for the precise rules.
pub fn batched_beam_search(
    model: &dyn LanguageModel,
    prompts: &[Vec<u32>],
    beam_width: usize,
    max_new_tokens: usize,
    alpha: f64,
    eos_token_id: u32,
) -> Result<Vec<Vec<Hypothesis>>, BeamError> {
    if beam_width == 0 {
        return Err(BeamError::ZeroBeamWidth);
    }
    if max_new_tokens == 0 {
        return Err(BeamError::ZeroMaxNewTokens);
    }
    if !alpha.is_finite() {
        return Err(BeamError::NonFiniteAlpha(alpha));
    }
    if let Some(item) = prompts.iter().position(Vec::is_empty) {
        return Err(BeamError::EmptyPrompt { item });
    }
    let vocab_size = model.vocab_size();
    if eos_token_id as usize >= vocab_size {
        return Err(BeamError::EosOutOfVocabulary {
            eos: eos_token_id,
            vocab_size,
        });
    }

    let start = Beam {
        tokens: Vec::new(),
        log_prob: 0.0,
        score: 0.0,
        finished: false,
    };
    let mut items: Vec<Vec<Beam>> = vec![vec![start]; prompts.len()];

    for _ in 0..max_new_tokens {
        // An item whose beams are all finished stops expanding; when that holds for every item
        // the search stops early.
        let contexts: Vec<Vec<u32>> = items
            .iter()
            .zip(prompts)
            .flat_map(|(beams, prompt)| {
                beams
                    .iter()
                    .filter(|beam| !beam.finished)
                    .map(move |beam| [prompt.as_slice(), &beam.tokens].concat())
            })
            .collect();
        if contexts.is_empty() {
            break;
        }
        let context_refs: Vec<&[u32]> = contexts.iter().map(Vec::as_slice).collect();
        let logits = model.next_token_logits_batch(&context_refs)?;
        if logits.dim() != (contexts.len(), vocab_size) {
            return Err(BeamError::LogitsShape {
                got: logits.dim(),
                expected: (contexts.len(), vocab_size),
            });
        }

        let mut rows = logits.rows().into_iter();
        for beams in &mut items {
            let mut pool = Vec::new();
            for beam in beams.drain(..) {
                if beam.finished {
                    // EOS RETENTION: a finished beam stays in the pool with its frozen log-prob
                    // and length. Dropping it would let a longer, less likely sequence win just
                    // because it kept going (the prompt's Test 3: −3.0 finished vs −5.0 going).
                    pool.push(beam);
                    continue;
                }
                let row = rows
                    .next()
                    .expect("one logits row per unfinished beam, in order");
                let log_probs = log_softmax(row);
                if log_probs.iter().any(|lp| lp.is_nan()) {
                    return Err(BeamError::NanLogProbs);
                }
                for token in top_tokens(log_probs.view(), 2 * beam_width) {
                    let mut tokens = beam.tokens.clone();
                    tokens.push(token as u32);
                    let log_prob = beam.log_prob + log_probs[token];
                    pool.push(Beam {
                        score: length_penalized_score(log_prob, tokens.len(), alpha),
                        finished: token as u32 == eos_token_id,
                        tokens,
                        log_prob,
                    });
                }
            }
            // Stable: equal scores keep pool order (earlier beam, then lower token id).
            pool.sort_by(|a, b| b.score.total_cmp(&a.score));
            pool.truncate(beam_width);
            *beams = pool;
        }
    }

    // The beams are the best K of finished + unfinished by score, already sorted best first.
    Ok(items
        .into_iter()
        .map(|beams| beams.into_iter().map(Beam::into_hypothesis).collect())
        .collect())
}

/// The `count` most likely tokens, most likely first, lower token id first on ties; tokens with
/// log-prob `-inf` are impossible and never returned.
fn top_tokens(log_probs: ArrayView1<'_, f64>, count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..log_probs.len())
        .filter(|&t| log_probs[t] > f64::NEG_INFINITY)
        .collect();
    order.sort_by(|&a, &b| log_probs[b].total_cmp(&log_probs[a]).then(a.cmp(&b)));
    order.truncate(count);
    order
}
