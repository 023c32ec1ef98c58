//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct`, kept as those edits
//! instead of near-copies of `flash_attention.py`: each is applied to the correct file at test
//! time and written into a fresh submission named like the fixture
//! ([`grader_testkit::mutated_fixture`] asserts every `find` occurs exactly once, so an edit of
//! `correct` that breaks a mutation fails the tests instead of silently grading an unmutated
//! file).
//!
//! The other fixtures are real folders: `correct`; `materializes_nxn` and
//! `hides_from_tracemalloc` (whole different implementations, not edits); and `no_partial_mask`
//! (examples/buggy-solutions/flash_attention points at it).

use grader_testkit::{FixtureSet, Mutation};

/// The submission file of every fixture.
const FILE: &str = "flash_attention.py";

/// The correct file's `__main__` self-check, which the buggy fixtures never carried.
const WITHOUT_SELF_CHECK: (&str, &str) = (
    r#"
if __name__ == "__main__":
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 1, 256, 64)) for _ in range(3))
    s = q[0, 0] @ k[0, 0].T / 8.0
    s = np.where(np.triu(np.ones((256, 256), bool), 1), -np.inf, s)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    ref = (p / p.sum(axis=1, keepdims=True)) @ v[0, 0]
    got = flash_attention_fwd(q, k, v, 64, True)[0, 0]
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4
    print("ok")
"#,
    "",
);

/// The correct file's docstring, which every mutation rewrites to say its bug.
const CORRECT_DOCSTRING: &str =
    r#""""Tiled (flash) attention forward with online softmax, in NumPy. A correct answer.""""#;

const MUTATIONS: [Mutation; 2] = [
    Mutation {
        name: "nan_masked_tile",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: visits key tiles last-first without skipping masked ones; exp(-inf - -inf) gives NaN.""""#,
            ),
            (
                r#"                for ks in range(0, N, tile_size):
                    if causal and ks > qe - 1:
                        break  # every key of this tile is in every query's future"#,
                "                for ks in reversed(range(0, N, tile_size)):  # BUG: masked tiles come first",
            ),
            (
                "                    if causal and ke - 1 > qs:",
                "                    if causal:",
            ),
            WITHOUT_SELF_CHECK,
        ],
    },
    Mutation {
        name: "rescale_inverted",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: rescales by exp(m_new - m_old) instead of exp(m_old - m_new).""""#,
            ),
            (
                "                        s = np.where(cols > rows, -np.inf, s)",
                r#"                        s = np.where(cols > rows, -np.inf, s)
                    if ks == 0:
                        m = s.max(axis=1)
                        p = np.exp(s - m[:, None])
                        l = p.sum(axis=1)
                        o = p @ v_all[ks:ke]
                        continue"#,
            ),
            (
                r#"                    # exp(m_old - m_new) <= 1 shrinks what was accumulated under the old max.
                    correction = np.exp(m - m_new)"#,
                "                    correction = np.exp(m_new - m)  # BUG: the factor is inverted",
            ),
            WITHOUT_SELF_CHECK,
        ],
    },
];

/// Every fixture: the mutations above, else the real folders of `tests/fixtures`.
pub const FIXTURES: FixtureSet = FixtureSet {
    challenge: "flash_attention",
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
    file: FILE,
    mutations: &MUTATIONS,
};
