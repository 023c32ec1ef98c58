//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct/kv_cache.py`, kept as
//! those edits instead of ~60-line copies: at test time the correct cache, its docstring
//! rewritten to describe the bug and the edits applied, becomes a fresh submission folder named
//! like the fixture. `grader_testkit::mutated_fixture` asserts that every `find` occurs exactly
//! once, so an edit of `correct` that breaks a mutation fails the tests instead of grading a
//! correct cache as a buggy one.
//!
//! The other buggy fixture, `reconcatenates` (a list-of-arrays cache, not a small edit), is a
//! real folder; examples/buggy-solutions points at it.

use grader_testkit::{FixtureSet, Mutation};

/// The submission file of every fixture.
const FILE: &str = "kv_cache.py";

/// The end of the correct cache's docstring (it is correct, and how), which a mutation rewrites
/// to describe its bug.
const CORRECT_DESCRIPTION: &str = "in NumPy. A correct answer.

Layout: keys and values each (batch_size, num_heads, max_len, head_dim), preallocated, with a
length per sequence slot. append writes one token per listed sequence at its length; attend
computes, per sequence and head, softmax(q . K^T / sqrt(d)) V over that sequence's own cached
tokens 0..len-1, so padding past len is never read.";

pub const MUTATIONS: [Mutation; 3] = [
    Mutation {
        name: "shared_slot",
        edits: &[
            (
                CORRECT_DESCRIPTION,
                "in NumPy, with one bug.

The slot is taken from the row of the batched call instead of the sequence id, so when the
set of active sequences changes between steps, sequences write into and read from one
another's slots.",
            ),
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
        edits: &[
            (
                CORRECT_DESCRIPTION,
                "in NumPy, with one bug.

The causal prefix is one position too long: attention runs over positions 0..len inclusive,
so one never-written (zero) key and value take part.",
            ),
            (
                "            length = self.lengths[seq]
",
                "            # BUG: one past the last cached token (an unwritten, zero slot).
            length = self.lengths[seq] + 1
",
            ),
        ],
    },
    Mutation {
        name: "padding_unmasked",
        edits: &[
            (
                CORRECT_DESCRIPTION,
                "in NumPy, with one bug.

Every sequence of a batched call attends over the longest length in the call, as if the
batch were padded to it, and the padding is not masked: the zero keys of a shorter sequence
get softmax weight.",
            ),
            (
                "        for row, seq in enumerate(seq_ids):
            length = self.lengths[seq]
",
                "        longest = max(self.lengths[seq] for seq in seq_ids)
        for row, seq in enumerate(seq_ids):
            # BUG: padded to the batch's longest sequence, with no mask for the padding.
            length = longest
",
            ),
        ],
    },
];

/// Every fixture: the mutations above, else the real folders of `tests/fixtures`.
pub const FIXTURES: FixtureSet = FixtureSet {
    challenge: "kv",
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
    file: FILE,
    mutations: &MUTATIONS,
};

/// The bare-prompt answer (`tests/fixtures/bare_prompt`) attending one past the last cached
/// token: graded through its adapter, the output checks FAIL as for an answer to the interface.
pub const BARE_PROMPT_OFF_BY_ONE: Mutation = Mutation {
    name: "bare_prompt_off_by_one",
    edits: &[(
        "            n = self.seq_lens[s]\n",
        "            n = self.seq_lens[s] + 1  # BUG: one past the last cached token\n",
    )],
};
