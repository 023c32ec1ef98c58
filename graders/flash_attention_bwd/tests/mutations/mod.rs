//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct`, kept as those edits
//! instead of near-copies of `flash_attention_bwd.py`: each is applied to the correct file at
//! test time and written into a fresh submission named like the fixture
//! ([`grader_testkit::mutated_fixture`] asserts every `find` occurs exactly once, so an edit of
//! `correct` that breaks a mutation fails the tests instead of silently grading an unmutated
//! file).
//!
//! The other fixtures are real folders: `correct` (with its own self-test); `cache_extras` (a
//! correct variant, not a bug); and `d_within_tile`
//! (examples/buggy-solutions/flash_attention_bwd points at it).

use grader_testkit::{FixtureSet, Mutation};

/// The submission file of every fixture.
const FILE: &str = "flash_attention_bwd.py";

/// The correct file's docstring, which every mutation rewrites to say its bug.
const CORRECT_DOCSTRING: &str = r#""""Tiled (flash) attention backward with online-softmax recomputation, in NumPy. A correct
answer: D_i is the whole-row rowsum(dO * O), computed once per query tile.""""#;

const MUTATIONS: [Mutation; 8] = [
    Mutation {
        name: "lse_is_max",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: the cache's L holds the row max m only, without log(l), so the backward's
P = exp(S - L) is not normalised.""""#,
            ),
            (
                "                L[b, h, qs:qe] = m + np.log(l)",
                r#"                # BUG: m alone, not m + log(l)
                L[b, h, qs:qe] = m"#,
            ),
        ],
    },
    Mutation {
        name: "no_d_term",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: the softmax gradient drops the D term, dS = P * dP instead of P * (dP - D).""""#,
            ),
            (
                "                    ds = p * (dp - d[:, None])",
                r#"                    # BUG: no D term
                    ds = p * dp"#,
            ),
        ],
    },
    Mutation {
        name: "overwrites_dk_dv",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: dK and dV of a key tile are overwritten by each query tile instead of accumulated,
so only the last query tile's share survives.""""#,
            ),
            (
                "                    dV[b, h, ks:ke] += p.T @ do",
                r#"                    # BUG: = instead of += (here and for dK)
                    dV[b, h, ks:ke] = p.T @ do"#,
            ),
            (
                "                    dK[b, h, ks:ke] += (ds.T @ q) * scale",
                "                    dK[b, h, ks:ke] = (ds.T @ q) * scale",
            ),
        ],
    },
    Mutation {
        name: "overwrites_dq",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: dQ of a query tile is overwritten by each KV tile instead of accumulated, so only
the last visible KV tile's share survives.""""#,
            ),
            (
                "                    dQ[b, h, qs:qe] += (ds @ k_all[ks:ke]) * scale",
                r#"                    # BUG: = instead of +=
                    dQ[b, h, qs:qe] = (ds @ k_all[ks:ke]) * scale"#,
            ),
        ],
    },
    Mutation {
        name: "cache_object",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Right values, but the cache is an object with attributes instead of the dict the prompt
asks for: the gradients make the round trip (the object stays in the worker), while L and
the cache's arrays cannot be inspected.""""#,
            ),
            (
                r#"    return O, {"O": O, "L": L, "Q": Q, "K": K, "V": V}"#,
                r#"    # BUG (of contract): an object, not the dict {'O', 'L', 'Q', 'K', 'V'}
    return O, Cache(O, L, Q, K, V)


class Cache:
    def __init__(self, O, L, Q, K, V):
        self.O, self.L, self.Q, self.K, self.V = O, L, Q, K, V"#,
            ),
            (
                r#"    Q, K, V, O, L = cache["Q"], cache["K"], cache["V"], cache["O"], cache["L"]"#,
                "    Q, K, V, O, L = cache.Q, cache.K, cache.V, cache.O, cache.L",
            ),
        ],
    },
    Mutation {
        name: "caches_probabilities",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: right values, but the forward keeps the full (N, N) probability matrix P in the cache
so that the backward need not recompute it, which the prompt forbids.""""#,
            ),
            (
                "    L = np.empty((B, H, N))",
                r#"    L = np.empty((B, H, N))
    # BUG: the whole softmax matrix, kept for the backward
    P = np.zeros((B, H, N, N))"#,
            ),
            (
                r#"    return O, {"O": O, "L": L, "Q": Q, "K": K, "V": V}"#,
                r#"                s = (q_all[qs:qe] @ k_all.T) * scale
                if causal:
                    s = _causal_block(s, qs, 0)
                P[b, h, qs:qe] = np.exp(s - L[b, h, qs:qe, None])
    return O, {"O": O, "L": L, "Q": Q, "K": K, "V": V, "P": P}"#,
            ),
            (
                r#"                    s = (q @ k_all[ks:ke].T) * scale
                    if causal and ke - 1 > qs:
                        s = _causal_block(s, qs, ks)
                    p = np.exp(s - lse[:, None])"#,
                r#"                    p = cache["P"][b, h, qs:qe, ks:ke]"#,
            ),
        ],
    },
    Mutation {
        name: "materializes_forward",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: correct values, but the forward builds the full (N, N) score matrix of each head.""""#,
            ),
            (
                r#"            for qs in range(0, N, tile_size):
                qe = min(qs + tile_size, N)
                m = np.full(qe - qs, -np.inf)
                l = np.zeros(qe - qs)
                o = np.zeros((qe - qs, D))
                for ks in range(0, N, tile_size):
                    if causal and ks > qe - 1:
                        break  # the whole block lies above the diagonal
                    ke = min(ks + tile_size, N)
                    s = (q_all[qs:qe] @ k_all[ks:ke].T) * scale
                    if causal and ke - 1 > qs:
                        s = _causal_block(s, qs, ks)
                    m_new = np.maximum(m, s.max(axis=1))
                    correction = np.exp(m - m_new)
                    p = np.exp(s - m_new[:, None])
                    l = l * correction + p.sum(axis=1)
                    o = o * correction[:, None] + p @ v_all[ks:ke]
                    m = m_new
                O[b, h, qs:qe] = o / l[:, None]
                L[b, h, qs:qe] = m + np.log(l)"#,
                r#"            # BUG: the whole (N, N) score matrix at once
            s = (q_all @ k_all.T) * scale
            if causal:
                s = _causal_block(s, 0, 0)
            m = s.max(axis=1)
            p = np.exp(s - m[:, None])
            l = p.sum(axis=1)
            O[b, h] = (p @ v_all) / l[:, None]
            L[b, h] = m + np.log(l)"#,
            ),
        ],
    },
    Mutation {
        name: "materializes_backward",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""Buggy: correct values, but the backward recomputes the full (N, N) probability matrix of
each head.""""#,
            ),
            (
                r#"            for qs in range(0, N, tile_size):
                qe = min(qs + tile_size, N)
                q, do = q_all[qs:qe], do_all[qs:qe]
                lse, d = L[b, h, qs:qe], d_all[qs:qe]
                for ks in range(0, N, tile_size):
                    if causal and ks > qe - 1:
                        break
                    ke = min(ks + tile_size, N)
                    s = (q @ k_all[ks:ke].T) * scale
                    if causal and ke - 1 > qs:
                        s = _causal_block(s, qs, ks)
                    p = np.exp(s - lse[:, None])
                    dV[b, h, ks:ke] += p.T @ do
                    dp = do @ v_all[ks:ke].T
                    ds = p * (dp - d[:, None])
                    dQ[b, h, qs:qe] += (ds @ k_all[ks:ke]) * scale
                    dK[b, h, ks:ke] += (ds.T @ q) * scale"#,
                r#"            # BUG: the whole (N, N) probability matrix at once
            s = (q_all @ k_all.T) * scale
            if causal:
                s = _causal_block(s, 0, 0)
            p = np.exp(s - L[b, h][:, None])
            dV[b, h] = p.T @ do_all
            ds = p * (do_all @ v_all.T - d_all[:, None])
            dQ[b, h] = (ds @ k_all) * scale
            dK[b, h] = (ds.T @ q_all) * scale"#,
            ),
        ],
    },
];

/// Every fixture: the mutations above, else the real folders of `tests/fixtures`.
pub const FIXTURES: FixtureSet = FixtureSet {
    challenge: "flash_attention_bwd",
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
    file: FILE,
    mutations: &MUTATIONS,
};
