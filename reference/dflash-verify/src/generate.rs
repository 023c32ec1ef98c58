//! The speculative generation loop and the autoregressive decoding it must equal.

use tiny_lm::{LanguageModel, argmax};

use crate::verify::{VerifyError, verify_and_accept};

/// One draft step: node tokens and parents (`-1` = root), nodes in topological order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DraftTree {
    /// Token of node `i`.
    pub tokens: Vec<u32>,
    /// Parent of node `i`: `-1` for a root, else an earlier node.
    pub parents: Vec<i64>,
}

/// Speculative decoding at temperature 0: until the sequence holds `max_tokens` tokens (prompt
/// included, as in the prompt's loop), ask `draft` for a tree given the sequence so far, verify
/// it with one target forward, and append the accepted tokens and the new token.
///
/// A cycle may overshoot; the result is cut to `max_tokens` (never below the prompt), so it is
/// directly comparable with [`greedy_generate`]. Unlike the prompt's sketch there is no second
/// "fallback" forward when nothing is accepted: `new_token` already is the target's greedy
/// token after the sequence, from the same forward.
pub fn speculative_generate(
    target: &dyn LanguageModel,
    prompt: &[u32],
    max_tokens: usize,
    draft: &mut dyn FnMut(&[u32]) -> DraftTree,
) -> Result<Vec<u32>, VerifyError> {
    let mut generated = prompt.to_vec();
    while generated.len() < max_tokens {
        let tree = draft(&generated);
        let (accepted, new_token) =
            verify_and_accept(&generated, &tree.tokens, &tree.parents, target)?;
        generated.extend(accepted);
        generated.push(new_token);
    }
    generated.truncate(max_tokens.max(prompt.len()));
    Ok(generated)
}

/// Autoregressive greedy decoding: one causal forward per token, `argmax` (lowest index on
/// ties) of the last row, until the sequence holds `max_tokens` tokens (prompt included).
pub fn greedy_generate(
    target: &dyn LanguageModel,
    prompt: &[u32],
    max_tokens: usize,
) -> Result<Vec<u32>, VerifyError> {
    if prompt.is_empty() {
        return Err(VerifyError::EmptyPrompt);
    }
    let mut generated = prompt.to_vec();
    while generated.len() < max_tokens {
        let logits = target.next_token_logits(&generated)?;
        let next = argmax(logits.view()).ok_or(VerifyError::LogitsShape {
            got: (1, 0),
            expected: (1, target.vocab_size().max(1)),
        })?;
        generated.push(next as u32);
    }
    Ok(generated)
}
