//! Reference tree-attention verification for DFlash-style speculative decoding (temperature 0),
//! as the `dflash_verify` prompt specifies it.
//!
//! * [`tree`]: draft-tree structure and [`build_tree_mask`] (the prompt's rules a–e).
//! * [`verify`]: [`verify_and_accept`] — ONE target forward over `[prompt | tree]` under the tree
//!   mask, then the greedy acceptance walk ([`accept_greedy_path`]).
//! * [`generate`]: the speculative generation loop and the autoregressive greedy decoding it must
//!   reproduce exactly (the golden test).
//! * [`fixtures`]: random tree shapes and drafts mixing right and wrong tokens, for tests and
//!   graders.
//!
//! The target is any [`tiny_lm::LanguageModel`]; it must carry NO absolute position encoding
//! (the verification call passes no position ids), which `tiny_lm::TinyLm` satisfies.

#![warn(missing_docs)]

pub mod fixtures;
pub mod generate;
pub mod tree;
pub mod verify;

pub use generate::{DraftTree, greedy_generate, speculative_generate};
pub use tree::{TreeError, build_tree_mask, tree_children};
pub use verify::{Acceptance, VerifyError, accept_greedy_path, verify_and_accept};
