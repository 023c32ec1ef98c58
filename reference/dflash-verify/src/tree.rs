//! Draft trees and the tree attention mask.
//!
//! A tree of N nodes is given by `tree_parents[i]`: `-1` for a root (whose logical parent is
//! the last prompt token) or the index of an EARLIER node — nodes are numbered in topological
//! order, so a parent always precedes its children.

use ndarray::{Array2, s};

/// A tree that breaks the numbering rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A parent is below −1 or not an earlier node.
    #[error(
        "node {node} has parent {parent}: a parent must be -1 (root) or an earlier node \
         (topological order)"
    )]
    BadParent {
        /// The child.
        node: usize,
        /// Its invalid parent.
        parent: i64,
    },
}

fn check_parents(tree_parents: &[i64]) -> Result<(), TreeError> {
    match tree_parents
        .iter()
        .enumerate()
        .find(|&(node, &parent)| parent < -1 || parent >= node as i64)
    {
        Some((node, &parent)) => Err(TreeError::BadParent { node, parent }),
        None => Ok(()),
    }
}

/// `children[i]`: the children of node `i`, in increasing index order.
pub fn tree_children(tree_parents: &[i64]) -> Result<Vec<Vec<usize>>, TreeError> {
    check_parents(tree_parents)?;
    let mut children = vec![Vec::new(); tree_parents.len()];
    for (node, &parent) in tree_parents.iter().enumerate() {
        if let Ok(parent) = usize::try_from(parent) {
            children[parent].push(node);
        }
    }
    Ok(children)
}

/// The `(P+N, P+N)` boolean mask over `[prompt_0..prompt_{P-1}, tree_0..tree_{N-1}]`,
/// `M[i, j]` = position `i` may attend position `j`:
///
/// a) prompt rows are causal: `M[i, j] = j <= i` for `i, j < P`;
/// b) every tree row sees the whole prompt;
/// c) every position sees itself;
/// d) a tree node sees its ancestors (transitively);
/// e) and nothing else — no siblings, cousins or other branches.
///
/// Built row by row in topological order: a node's row is its parent's row plus itself (a
/// root's "parent row" is the prompt), so b) and d) hold by induction without walking to the
/// root for every node.
pub fn build_tree_mask(prompt_len: usize, tree_parents: &[i64]) -> Result<Array2<bool>, TreeError> {
    check_parents(tree_parents)?;
    let p = prompt_len;
    let len = p + tree_parents.len();
    let mut mask = Array2::from_elem((len, len), false);
    for i in 0..p {
        mask.slice_mut(s![i, ..=i]).fill(true);
    }
    for (node, &parent) in tree_parents.iter().enumerate() {
        let row = p + node;
        match usize::try_from(parent) {
            Ok(parent) => {
                let parent_row = mask.row(p + parent).to_owned();
                mask.row_mut(row).assign(&parent_row);
            }
            Err(_) => mask.slice_mut(s![row, ..p]).fill(true),
        }
        mask[[row, row]] = true;
    }
    Ok(mask)
}
