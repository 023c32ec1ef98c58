//! One verification step: a single target forward over `[prompt | tree]`, then greedy
//! acceptance (temperature 0).
//!
//! THE TRAP — which logits row judges node i. Row `r` of the target's logits predicts the token
//! that FOLLOWS position `r`. The prediction FOR node i, i.e. the token that should occupy node
//! i, is therefore read at its PARENT's position (`P − 1`, the last prompt token, for a root;
//! `P + parent` otherwise), NOT at `P + i` as the prompt's step 4b reads. Row `P + i` predicts
//! node i's CHILDREN and, once the walk ends on node i, the bonus token. The golden test decides:
//! reading at `P + i` compares a draft token with the target's guess for the NEXT position and
//! rejects right drafts.
//!
//! Acceptance is a walk down the tree from the last prompt token:
//!
//! ```text
//! node = (the last prompt token), accepted = []
//! loop:
//!     predicted = argmax(logits[position(node)])          # greedy target token after `node`
//!     child = first child of `node` (index order) whose draft token == predicted
//!     if none: return (accepted, predicted)                # replacement or bonus token
//!     accepted.push(predicted); node = child
//! ```
//!
//! How this reads the prompt's step 4 (process nodes in topological order, reject on mismatch,
//! invalidate the subtree, stop at the first rejection):
//! * A child whose token differs from `predicted` is rejected, and its whole subtree with it:
//!   the walk never enters it (subtree invalidation), even when its children "would match" the
//!   logits at its own position — those logits are conditioned on a token the target rejected.
//! * A node that differs from `predicted` while a SIBLING matches is an alternative not taken,
//!   not a stop. Otherwise the prompt's own Test 1 (three roots) breaks: after accepting root 0
//!   the next root would be "rejected" and emit root 0's token a second time.
//! * Several roots (or children) carrying the predicted token: the first in index order wins;
//!   they hold the same token, so the output is the same either way up to that point.
//! * The walk stops when no child matches: the returned `new_token` is then the target's
//!   replacement for the rejected position. When the walk reaches a leaf (every node on the path
//!   accepted), `new_token` is the bonus token from the leaf's own logits. When nothing is
//!   accepted, it is the target's greedy token after the prompt (row `P − 1`). In every case it
//!   comes from the same single forward, so each verification adds ≥ 1 token for exactly one
//!   target call, and every emitted token is the target's greedy choice after its prefix —
//!   which is why speculative output equals autoregressive greedy output.

use ndarray::ArrayView2;
use tiny_lm::{LanguageModel, ModelError, argmax};

use crate::tree::{TreeError, build_tree_mask, tree_children};

/// Invalid arguments to the verification or generation calls, or a model that refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The prompt has no tokens.
    #[error("the prompt is empty: root nodes have no last prompt token to follow")]
    EmptyPrompt,
    /// `tree_tokens` and `tree_parents` differ in length.
    #[error("{tokens} tree tokens but {parents} tree parents")]
    TreeLength {
        /// Length of `tree_tokens`.
        tokens: usize,
        /// Length of `tree_parents`.
        parents: usize,
    },
    /// The logits are not one row per prompt and tree position, or have no columns.
    #[error("logits have shape {got:?}, expected (prompt + tree, vocab ≥ 1) = {expected:?}")]
    LogitsShape {
        /// `(rows, columns)` given.
        got: (usize, usize),
        /// `(prompt_len + tree nodes, vocab ≥ 1)`.
        expected: (usize, usize),
    },
    /// The tree's parents are invalid.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The target refused the forward.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The outcome of one verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    /// Indices of the accepted nodes: a root-to-node path of the tree.
    pub accepted_nodes: Vec<usize>,
    /// Their draft tokens (equal to the target's greedy tokens).
    pub accepted_tokens: Vec<u32>,
    /// The target's greedy token after the accepted path: the replacement for the first
    /// rejected position, or the bonus token when the path ends on a leaf.
    pub new_token: u32,
}

/// Greedy acceptance from the logits of `[prompt | tree]` (see the module docs for the walk and
/// why node i is judged by its PARENT's row).
pub fn accept_greedy_path(
    prompt_len: usize,
    tree_tokens: &[u32],
    tree_parents: &[i64],
    logits: ArrayView2<'_, f64>,
) -> Result<Acceptance, VerifyError> {
    if prompt_len == 0 {
        return Err(VerifyError::EmptyPrompt);
    }
    if tree_tokens.len() != tree_parents.len() {
        return Err(VerifyError::TreeLength {
            tokens: tree_tokens.len(),
            parents: tree_parents.len(),
        });
    }
    let expected_rows = prompt_len + tree_tokens.len();
    if logits.nrows() != expected_rows || logits.ncols() == 0 {
        return Err(VerifyError::LogitsShape {
            got: logits.dim(),
            expected: (expected_rows, logits.ncols().max(1)),
        });
    }
    let children = tree_children(tree_parents)?;
    let roots: Vec<usize> = (0..tree_parents.len())
        .filter(|&i| tree_parents[i] < 0)
        .collect();

    let (mut accepted_nodes, mut accepted_tokens) = (Vec::new(), Vec::new());
    let mut position = prompt_len - 1;
    let mut candidates = roots.as_slice();
    loop {
        let predicted =
            argmax(logits.row(position)).expect("logits have at least one column") as u32;
        match candidates
            .iter()
            .find(|&&node| tree_tokens[node] == predicted)
        {
            Some(&node) => {
                accepted_nodes.push(node);
                accepted_tokens.push(predicted);
                position = prompt_len + node;
                candidates = &children[node];
            }
            None => {
                return Ok(Acceptance {
                    accepted_nodes,
                    accepted_tokens,
                    new_token: predicted,
                });
            }
        }
    }
}

/// `(accepted_tokens, new_token)` for one draft tree, with exactly ONE call of
/// `target.logits` over `[prompt | tree]` under [`build_tree_mask`] (no position ids: the
/// target must be position-free). The caller appends both to its sequence.
///
/// Greedy (temperature 0) only, which is what the golden test defines; the prompt's
/// `temperature` argument therefore has no counterpart here.
pub fn verify_and_accept(
    prompt_tokens: &[u32],
    tree_tokens: &[u32],
    tree_parents: &[i64],
    target: &dyn LanguageModel,
) -> Result<(Vec<u32>, u32), VerifyError> {
    if prompt_tokens.is_empty() {
        return Err(VerifyError::EmptyPrompt);
    }
    if tree_tokens.len() != tree_parents.len() {
        return Err(VerifyError::TreeLength {
            tokens: tree_tokens.len(),
            parents: tree_parents.len(),
        });
    }
    let mask = build_tree_mask(prompt_tokens.len(), tree_parents)?;
    let sequence = [prompt_tokens, tree_tokens].concat();
    let logits = target.logits(&sequence, mask.view())?;
    let acceptance = accept_greedy_path(
        prompt_tokens.len(),
        tree_tokens,
        tree_parents,
        logits.view(),
    )?;
    Ok((acceptance.accepted_tokens, acceptance.new_token))
}
