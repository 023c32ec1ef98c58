//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct`, kept as those edits
//! instead of ~400-line copies: each is applied to the correct kernel at test time and written
//! into a fresh submission folder named like the fixture. Every `find` must occur exactly once
//! in the correct kernel, so an edit of `correct` that breaks a mutation fails the tests instead
//! of silently grading an unmutated kernel.
//!
//! The other fixtures are real folders: `correct`, `materialises_softmax` (a different, two-kernel
//! pipeline) and `does_not_compile` (a small standalone file).

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// Folder of the real fixtures, relative to the crate (the working directory of the tests, and
/// of the carried test binaries in scripts/gpu-check.sh).
pub const FIXTURES_DIR: &str = "tests/fixtures";

/// The submission file of every fixture.
pub const KERNEL_FILE: &str = "fused_softmax_topk.cu";

/// A buggy kernel: the correct one with `edits` (find, replace) applied.
pub struct Mutation {
    /// The fixture's name (its folder).
    pub name: &'static str,
    /// The bug, in a line (written as the first line of the mutated kernel).
    pub bug: &'static str,
    /// Exact (find, replace) edits; each replacement carries a `// BUG:` comment.
    pub edits: &'static [(&'static str, &'static str)],
}

pub const MUTATIONS: [Mutation; 4] = [
    Mutation {
        name: "warp_merge",
        bug: "the warp-level merge of the threads' candidates into the block buffer writes each lane at base + lane id instead of base + its rank among the lanes that claimed a slot, so candidates overwrite each other and claimed slots keep stale keys.",
        edits: &[(
            "const int position = base + __popc(ballot & lanes_below);",
            "const int position = base + lane; // BUG: the lane id, not the rank among the lanes that claimed a slot",
        )],
    },
    Mutation {
        name: "heap_update",
        bug: "after a sort the admission threshold (the heap's root) becomes the best kept key instead of the k-th best, so logits between the two are refused.",
        edits: &[(
            "buffer.threshold = kept == k ? buffer.keys[k - 1] : 0;",
            "buffer.threshold = kept == k ? buffer.keys[0] : 0; // BUG: the best kept key, not the k-th best",
        )],
    },
    Mutation {
        name: "rescale_direction",
        bug: "merging two online-softmax states rescales by exp(m - m_part) (>= 1) instead of exp(m_part - m) (<= 1).",
        edits: &[(
            "return SoftmaxState{max, a.sum * expf(a.max - max) + b.sum * expf(b.max - max)};",
            "return SoftmaxState{max, a.sum * expf(max - a.max) + b.sum * expf(max - b.max)}; // BUG: rescales up, not down",
        )],
    },
    Mutation {
        name: "no_extern_c",
        bug: "the entry point has C++ linkage (its name is mangled), so the judge cannot find it.",
        edits: &[(
            "extern \"C\" int fused_softmax_topk(",
            "int fused_softmax_topk( // BUG: no extern \"C\": the exported name is mangled\n    ",
        )],
    },
];

impl Mutation {
    /// `correct` with every edit applied, headed by the bug's line.
    ///
    /// Panics when a `find` does not occur exactly once: the mutation no longer applies.
    pub fn apply(&self, correct: &str) -> String {
        let mut kernel = correct.to_string();
        for (find, replace) in self.edits {
            let occurrences = kernel.matches(find).count();
            assert_eq!(
                occurrences, 1,
                "mutation {}: {find:?} occurs {occurrences} times in the correct kernel (exactly once expected)",
                self.name
            );
            assert!(
                replace.contains("// BUG:"),
                "mutation {}: the replacement of {find:?} does not say `// BUG:`",
                self.name
            );
            kernel = kernel.replacen(find, replace, 1);
        }
        format!("// Buggy fixture: {}\n{kernel}", self.bug)
    }
}

/// A fixture's submission folder: the real one, or a mutated kernel in a fresh temporary folder
/// (removed when this is dropped).
pub struct Fixture {
    dir: PathBuf,
    _scratch: Option<TempDir>,
}

impl Fixture {
    /// The folder holding the fixture's files, named like the fixture.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fixture's kernel.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join(KERNEL_FILE)
    }
}

/// The fixture `name`: a mutation of `correct` when [`MUTATIONS`] lists it, else the real folder
/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Fixture {
    let real = Path::new(FIXTURES_DIR).join(name);
    let Some(mutation) = MUTATIONS.iter().find(|m| m.name == name) else {
        assert!(
            real.is_dir(),
            "no fixture {name}: neither a mutation nor {}",
            real.display()
        );
        return Fixture {
            dir: real,
            _scratch: None,
        };
    };
    assert!(
        !real.exists(),
        "{name} is both a mutation and the folder {}",
        real.display()
    );
    let correct_path = Path::new(FIXTURES_DIR).join("correct").join(KERNEL_FILE);
    let correct = std::fs::read_to_string(&correct_path)
        .unwrap_or_else(|e| panic!("{}: {e}", correct_path.display()));
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let dir = scratch.path().join(name);
    std::fs::create_dir(&dir).expect("a fixture folder in a fresh temporary folder");
    std::fs::write(dir.join(KERNEL_FILE), mutation.apply(&correct)).expect("the mutated kernel");
    Fixture {
        dir,
        _scratch: Some(scratch),
    }
}
