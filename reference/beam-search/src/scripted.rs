//! A scripted language model: the test and grader fixture for beam-search traps.
//!
//! The next-token logits are looked up by the FULL context (prompt + generated tokens so far):
//! an exact match among the rules, else the default. Tests and graders use it to pin down the
//! log-probs a trap needs (an EOS beam at −3.0 against a continuing beam at −5.0, ...). Its
//! NumPy twin, `py/scripted_lm.py`, reads [`ScriptedModel::to_json`] and answers the same calls.
//!
//! Under a mask, row `i` sees the visible tokens `[tokens[j] for j where mask[i, j]]` in order —
//! the same position-free semantics as `tiny_lm::TinyLm`, so a causal mask gives the prefix.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2};
use serde_json::{Value, json};
use tiny_lm::{LanguageModel, ModelError};

/// Why a scripted model or a listed distribution could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScriptError {
    /// `default_logits` is empty.
    #[error("the vocabulary must hold at least one token")]
    EmptyVocabulary,
    /// A rule's logits are not one per vocabulary token.
    #[error("logits of length {got} for a vocabulary of size {vocab_size}")]
    LogitsLength {
        /// Length given.
        got: usize,
        /// Length of the default logits.
        vocab_size: usize,
    },
    /// A logit is NaN or +∞ (−∞ is allowed: an impossible token).
    #[error("logit {value} at token {token} is NaN or +inf")]
    BadLogit {
        /// Its token id.
        token: usize,
        /// The logit.
        value: f64,
    },
    /// A rule's context holds a token outside the vocabulary.
    #[error("context token {token} is outside the vocabulary of size {vocab_size}")]
    ContextToken {
        /// The offending token.
        token: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// A listed token of [`next_token_distribution`] is outside the vocabulary.
    #[error("token {token} is outside the vocabulary of size {vocab_size}")]
    TokenOutOfRange {
        /// The offending token.
        token: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// A listed log-prob is NaN or positive.
    #[error("log-prob {log_prob} of token {token} is not in (-inf, 0]")]
    BadLogProb {
        /// Its token.
        token: u32,
        /// The log-prob.
        log_prob: f64,
    },
    /// A token is listed twice.
    #[error("token {token} is listed twice")]
    DuplicateToken {
        /// The repeated token.
        token: u32,
    },
    /// `Σ exp(log_prob) ≥ 1` while some tokens are unlisted.
    #[error("the listed log-probs hold probability mass {mass}, leaving none for the rest")]
    NoMassLeft {
        /// `Σ exp(log_prob)` of the listed tokens.
        mass: f64,
    },
}

/// Next-token logits as a function of the context: exact-match rules plus a default.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedModel {
    default_logits: Vec<f64>,
    rules: BTreeMap<Vec<u32>, Vec<f64>>,
}

impl ScriptedModel {
    /// A model answering `default_logits` everywhere; the vocabulary is its length.
    pub fn new(default_logits: Vec<f64>) -> Result<Self, ScriptError> {
        if default_logits.is_empty() {
            return Err(ScriptError::EmptyVocabulary);
        }
        check_logits(&default_logits, default_logits.len())?;
        Ok(ScriptedModel {
            default_logits,
            rules: BTreeMap::new(),
        })
    }

    /// Answer `logits` after exactly `context` (prompt + generated). Replaces an earlier rule
    /// for the same context.
    pub fn with_rule(mut self, context: Vec<u32>, logits: Vec<f64>) -> Result<Self, ScriptError> {
        let vocab_size = self.default_logits.len();
        check_logits(&logits, vocab_size)?;
        if let Some(&token) = context.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(ScriptError::ContextToken { token, vocab_size });
        }
        self.rules.insert(context, logits);
        Ok(self)
    }

    /// The logits the script answers after `context`.
    pub fn script_logits(&self, context: &[u32]) -> &[f64] {
        self.rules.get(context).unwrap_or(&self.default_logits)
    }

    /// The whole script, in the form `ScriptedLM.from_json` (py/scripted_lm.py) reads:
    /// `{"vocab_size": V, "default_logits": [..V], "rules": [{"context": [..], "logits": [..V]}]}`.
    /// `-inf` logits are written as the string `"-inf"` (JSON has no infinities).
    pub fn to_json(&self) -> Value {
        let logits_json = |logits: &[f64]| -> Vec<Value> {
            logits
                .iter()
                .map(|&x| {
                    if x.is_finite() {
                        json!(x)
                    } else {
                        json!("-inf")
                    }
                })
                .collect()
        };
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|(context, logits)| json!({"context": context, "logits": logits_json(logits)}))
            .collect();
        json!({
            "vocab_size": self.default_logits.len(),
            "default_logits": logits_json(&self.default_logits),
            "rules": rules,
        })
    }
}

fn check_logits(logits: &[f64], vocab_size: usize) -> Result<(), ScriptError> {
    if logits.len() != vocab_size {
        return Err(ScriptError::LogitsLength {
            got: logits.len(),
            vocab_size,
        });
    }
    match logits
        .iter()
        .position(|x| x.is_nan() || *x == f64::INFINITY)
    {
        Some(token) => Err(ScriptError::BadLogit {
            token,
            value: logits[token],
        }),
        None => Ok(()),
    }
}

/// Normalised next-token log-probs (usable as logits) in which each listed `(token, log_prob)`
/// has exactly that log-prob and the remaining mass `1 − Σ exp(log_prob)` is spread evenly over
/// the unlisted tokens. With a large vocabulary the rest is thin (e.g. ≈ −7 each for V = 1000),
/// so the listed tokens decide the search. `log_softmax` of the result returns the listed
/// log-probs up to rounding (~1e-16).
pub fn next_token_distribution(
    vocab_size: usize,
    listed: &[(u32, f64)],
) -> Result<Vec<f64>, ScriptError> {
    let mut log_probs = vec![f64::NAN; vocab_size];
    let mut mass = 0.0;
    for &(token, log_prob) in listed {
        let slot = log_probs
            .get_mut(token as usize)
            .ok_or(ScriptError::TokenOutOfRange { token, vocab_size })?;
        if !slot.is_nan() {
            return Err(ScriptError::DuplicateToken { token });
        }
        if log_prob.is_nan() || log_prob > 0.0 {
            return Err(ScriptError::BadLogProb { token, log_prob });
        }
        *slot = log_prob;
        mass += log_prob.exp();
    }
    let unlisted = vocab_size - listed.len();
    if unlisted > 0 {
        if mass >= 1.0 {
            return Err(ScriptError::NoMassLeft { mass });
        }
        let rest = ((1.0 - mass) / unlisted as f64).ln();
        log_probs
            .iter_mut()
            .filter(|x| x.is_nan())
            .for_each(|x| *x = rest);
    }
    Ok(log_probs)
}

impl LanguageModel for ScriptedModel {
    fn vocab_size(&self) -> usize {
        self.default_logits.len()
    }

    fn logits(
        &self,
        tokens: &[u32],
        mask: ArrayView2<'_, bool>,
    ) -> Result<Array2<f64>, ModelError> {
        let (len, vocab_size) = (tokens.len(), self.default_logits.len());
        if len == 0 {
            return Err(ModelError::EmptySequence);
        }
        if let Some((position, &token)) = tokens
            .iter()
            .enumerate()
            .find(|&(_, &t)| t as usize >= vocab_size)
        {
            return Err(ModelError::TokenOutOfRange {
                token,
                position,
                vocab_size,
            });
        }
        let (rows, cols) = mask.dim();
        if (rows, cols) != (len, len) {
            return Err(ModelError::MaskShape { rows, cols, len });
        }
        let mut out = Array2::zeros((len, vocab_size));
        for (i, mut row) in out.rows_mut().into_iter().enumerate() {
            let visible: Vec<u32> = (0..len)
                .filter(|&j| mask[[i, j]])
                .map(|j| tokens[j])
                .collect();
            if visible.is_empty() {
                return Err(ModelError::EmptyMaskRow { row: i });
            }
            row.iter_mut()
                .zip(self.script_logits(&visible))
                .for_each(|(out, &logit)| *out = logit);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array1;
    use tiny_lm::{causal_mask, log_softmax};

    #[test]
    fn listed_log_probs_survive_log_softmax() {
        let logits = next_token_distribution(1000, &[(0, -2.0), (5, -1.0)]).unwrap();
        let lp = log_softmax(Array1::from(logits).view());
        assert!((lp[0] + 2.0).abs() < 1e-12 && (lp[5] + 1.0).abs() < 1e-12);
        let rest = ((1.0 - (-2.0f64).exp() - (-1.0f64).exp()) / 998.0).ln();
        assert!((lp[1] - rest).abs() < 1e-12);
    }

    #[test]
    fn rules_match_the_full_visible_context_else_default() {
        let v = 4;
        let model = ScriptedModel::new(vec![0.0; v])
            .unwrap()
            .with_rule(vec![1, 2], vec![1.0, 2.0, 3.0, 4.0])
            .unwrap();
        assert_eq!(
            model.next_token_logits(&[1, 2]).unwrap().to_vec(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(
            model.next_token_logits(&[2]).unwrap().to_vec(),
            vec![0.0; v]
        );
        // Row 2 of [1, 3, 2] with position 1 hidden sees [1, 2].
        let mut mask = causal_mask(3);
        mask[[2, 1]] = false;
        let logits = model.logits(&[1, 3, 2], mask.view()).unwrap();
        assert_eq!(logits.row(2).to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(logits.row(1).to_vec(), vec![0.0; v]);
    }

    #[test]
    fn bad_scripts_are_rejected() {
        assert_eq!(
            ScriptedModel::new(vec![]),
            Err(ScriptError::EmptyVocabulary)
        );
        let model = ScriptedModel::new(vec![0.0; 3]).unwrap();
        assert!(matches!(
            model.clone().with_rule(vec![3], vec![0.0; 3]),
            Err(ScriptError::ContextToken { token: 3, .. })
        ));
        assert!(matches!(
            model.with_rule(vec![1], vec![0.0; 2]),
            Err(ScriptError::LogitsLength {
                got: 2,
                vocab_size: 3
            })
        ));
        assert!(matches!(
            next_token_distribution(3, &[(0, -0.1), (1, -0.1)]),
            Err(ScriptError::NoMassLeft { .. })
        ));
        assert!(matches!(
            next_token_distribution(3, &[(0, -1.0), (0, -2.0)]),
            Err(ScriptError::DuplicateToken { token: 0 })
        ));
    }
}
