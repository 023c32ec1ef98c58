//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct/kv_cache.py`, kept as
//! those edits instead of ~60-line copies: at test time the correct cache, its docstring
//! rewritten to describe the bug and the edits applied, becomes a fresh submission folder named
//! like the fixture. `grader_testkit::mutated_fixture` asserts that every `find` occurs exactly
//! once, so an edit of `correct` that breaks a mutation fails the tests instead of grading a
//! correct cache as a buggy one.
//!
//! The other buggy fixture, `reconcatenates` (a list-of-arrays cache, not a small edit), is a
//! real folder; examples/buggy-solutions points at it.

use std::path::Path;

use grader_kv::KvGrader;
use grader_testkit::{Submission, mutated_fixture, submission_from_dir};
use judge_core::Challenge;

/// The submission file of every fixture.
const FILE: &str = "kv_cache.py";

/// The end of the correct cache's docstring (it is correct, and how), which a mutation rewrites
/// to describe its bug.
const CORRECT_DESCRIPTION: &str = "in NumPy. A correct answer.

Layout: keys and values each (batch_size, num_heads, max_len, head_dim), preallocated, with a
length per sequence slot. append writes one token per listed sequence at its length; attend
computes, per sequence and head, softmax(q . K^T / sqrt(d)) V over that sequence's own cached
tokens 0..len-1, so padding past len is never read.";

/// A buggy cache: the correct one with `edits` (exact find, replace) applied; the edit where the
/// bug bites carries a `# BUG:` comment.
pub struct Mutation {
    /// The fixture's name.
    pub name: &'static str,
    /// The bug, as the docstring's paragraph says it.
    pub bug: &'static str,
    pub edits: &'static [(&'static str, &'static str)],
}

pub const MUTATIONS: [Mutation; 3] = [
    Mutation {
        name: "shared_slot",
        bug: "The slot is taken from the row of the batched call instead of the sequence id, so when the
set of active sequences changes between steps, sequences write into and read from one
another's slots.",
        edits: &[
            (
                "            position = self.lengths[seq]
            self.keys[seq, :, position] = k[row]
            self.values[seq, :, position] = v[row]
            self.lengths[seq] = position + 1
",
                "            # BUG: the batch row, not the sequence id, picks the slot.
            slot = row
            position = self.lengths[slot]
            self.keys[slot, :, position] = k[row]
            self.values[slot, :, position] = v[row]
            self.lengths[slot] = position + 1
",
            ),
            (
                "            length = self.lengths[seq]
            keys = self.keys[seq, :, :length]      # (H, len, d), a view
            values = self.values[seq, :, :length]
",
                "            # BUG: the batch row, not the sequence id, picks the slot.
            slot = row
            length = self.lengths[slot]
            keys = self.keys[slot, :, :length]      # (H, len, d), a view
            values = self.values[slot, :, :length]
",
            ),
        ],
    },
    Mutation {
        name: "off_by_one",
        bug: "The causal prefix is one position too long: attention runs over positions 0..len inclusive,
so one never-written (zero) key and value take part.",
        edits: &[(
            "            length = self.lengths[seq]
",
            "            # BUG: one past the last cached token (an unwritten, zero slot).
            length = self.lengths[seq] + 1
",
        )],
    },
    Mutation {
        name: "padding_unmasked",
        bug: "Every sequence of a batched call attends over the longest length in the call, as if the
batch were padded to it, and the padding is not masked: the zero keys of a shorter sequence
get softmax weight.",
        edits: &[(
            "        for row, seq in enumerate(seq_ids):
            length = self.lengths[seq]
",
            "        longest = max(self.lengths[seq] for seq in seq_ids)
        for row, seq in enumerate(seq_ids):
            # BUG: padded to the batch's longest sequence, with no mask for the padding.
            length = longest
",
        )],
    },
];

impl Mutation {
    /// The mutated cache alone in a fresh submission folder named like the fixture.
    pub fn submission(&self) -> Submission {
        let description = format!("in NumPy, with one bug.\n\n{}", self.bug);
        let edits: Vec<(&str, &str)> = std::iter::once((CORRECT_DESCRIPTION, description.as_str()))
            .chain(self.edits.iter().copied())
            .collect();
        mutated_fixture(
            KvGrader.id().as_str(),
            env!("CARGO_MANIFEST_DIR"),
            "correct",
            self.name,
            FILE,
            &edits,
        )
    }
}

/// The fixture `name`: a mutation of `correct` when [`MUTATIONS`] lists it, else the real folder
/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Submission {
    let real = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    match MUTATIONS.iter().find(|m| m.name == name) {
        Some(mutation) => {
            assert!(
                !real.exists(),
                "{name} is both a mutation and the folder {}",
                real.display()
            );
            mutation.submission()
        }
        None => submission_from_dir(KvGrader.id().as_str(), &real),
    }
}
