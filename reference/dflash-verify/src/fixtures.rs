//! Random draft trees for tests and graders (seeded by the caller's RNG).

use rand::Rng;
use tiny_lm::{LanguageModel, ModelError, argmax};

use crate::DraftTree;

/// Why a draft tree could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FixtureError {
    /// `right_probability` lies outside [0, 1].
    #[error("right_probability must lie in [0, 1], got {0}")]
    Probability(f64),
    /// The target refused a forward.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// A random tree shape: 1..=`max_branching` roots, every node above depth `max_depth` with
/// 0..=`max_branching` children (uniformly), numbered in a random topological order (a random
/// linear extension, so both breadth- and depth-first-like orders occur). Returns the parents
/// (`-1` for roots); empty when `max_depth` or `max_branching` is 0.
pub fn random_tree_parents<R: Rng + ?Sized>(
    rng: &mut R,
    max_depth: usize,
    max_branching: usize,
) -> Vec<i64> {
    if max_depth == 0 || max_branching == 0 {
        return Vec::new();
    }
    // Shape as (logical parent, depth) in generation order, parents referring to that order.
    let mut shape: Vec<(Option<usize>, usize)> = (0..rng.random_range(1..=max_branching))
        .map(|_| (None, 1))
        .collect();
    let mut next = 0;
    while next < shape.len() {
        let depth = shape[next].1;
        if depth < max_depth {
            for _ in 0..rng.random_range(0..=max_branching) {
                shape.push((Some(next), depth + 1));
            }
        }
        next += 1;
    }
    // Random linear extension: repeatedly number a random node whose parent is numbered.
    let mut number: Vec<Option<usize>> = vec![None; shape.len()];
    let mut ready: Vec<usize> = (0..shape.len()).filter(|&n| shape[n].0.is_none()).collect();
    let mut parents = Vec::with_capacity(shape.len());
    while !ready.is_empty() {
        let node = ready.swap_remove(rng.random_range(0..ready.len()));
        number[node] = Some(parents.len());
        parents.push(shape[node].0.map_or(-1, |p| {
            number[p].expect("a parent is numbered before its children become ready") as i64
        }));
        ready.extend((0..shape.len()).filter(|&c| shape[c].0 == Some(node)));
    }
    parents
}

/// A draft over `tree_parents` that mixes right and wrong tokens: each node carries, with
/// probability `right_probability`, the target's greedy token after ITS OWN path
/// (`context + ancestors`), else a random different token.
///
/// "Right given its own path" makes every trap reachable: a right node under a wrong ancestor
/// is exactly the subtree-invalidation case (a rejected node whose children would match), and
/// along an all-right path the tokens are the target's greedy continuation. The right tokens
/// come from one causal forward per node, independent of the tree mask under test.
pub fn mixed_draft_tree<R: Rng + ?Sized>(
    rng: &mut R,
    target: &dyn LanguageModel,
    context: &[u32],
    tree_parents: Vec<i64>,
    right_probability: f64,
) -> Result<DraftTree, FixtureError> {
    if !(0.0..=1.0).contains(&right_probability) {
        return Err(FixtureError::Probability(right_probability));
    }
    let vocab_size = target.vocab_size() as u32;
    let mut paths: Vec<Vec<u32>> = Vec::with_capacity(tree_parents.len());
    let mut tokens = Vec::with_capacity(tree_parents.len());
    for &parent in &tree_parents {
        let path = usize::try_from(parent).map_or_else(|_| context.to_vec(), |p| paths[p].clone());
        let logits = target.next_token_logits(&path)?;
        let right = argmax(logits.view()).expect("a vocabulary has at least one token") as u32;
        let token = if vocab_size < 2 || rng.random_bool(right_probability) {
            right
        } else {
            (right + rng.random_range(1..vocab_size)) % vocab_size
        };
        tokens.push(token);
        paths.push([path.as_slice(), &[token]].concat());
    }
    Ok(DraftTree {
        tokens,
        parents: tree_parents,
    })
}
