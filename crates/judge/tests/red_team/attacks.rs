//! The hostile submissions, as source text: each is written into a fresh folder at test time
//! (never a live file of the repository). Flash-attention attacks share [`NAIVE`], a correct
//! answer that materialises the N×N scores; the dflash and kv attacks are edits of the
//! graders' correct fixtures.

use std::fs;
use std::path::Path;

/// Correct values through the full (N, N) score matrix: what the memory criteria exist to catch.
pub const NAIVE: &str = r#"
import numpy as np


def naive(Q, K, V, causal):
    B, H, N, D = Q.shape
    out = np.empty(Q.shape)
    for b in range(B):
        for h in range(H):
            s = Q[b, h] @ K[b, h].T / np.sqrt(D)
            if causal:
                s = np.where(np.triu(np.ones((N, N), bool), 1), -np.inf, s)
            p = np.exp(s - s.max(axis=1, keepdims=True))
            out[b, h] = (p / p.sum(axis=1, keepdims=True)) @ V[b, h]
    return out
"#;

/// Materialises N×N, then answers the call itself on the bridge's response pipe, with the
/// request's own sequence number (found with gc) and a peak of 1 KiB.
pub const FORGED_RESPONSE_LINE: &str = r#"
import fcntl, gc, json, os, stat, sys


def _response_fd():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
            if fd >= 100 and stat.S_ISFIFO(os.fstat(fd).st_mode) and mode == os.O_WRONLY:
                return fd
        except OSError:
            pass
    return None


def _current_seq():
    seqs = [o["seq"] for o in gc.get_objects() if type(o) is dict and o.get("op") == "call" and "seq" in o]
    return max(seqs) if seqs else None


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    out = naive(Q, K, V, causal)
    fd = _response_fd()
    if fd is not None and Q.shape[2] >= 2048:
        name = "r900000.npy"
        np.save(os.path.join(sys.argv[3], name), out)
        line = {"ok": {"value": {"npy": name, "dtype": "<f8"}, "seconds": 0.01,
                       "peak_bytes": 1024, "fixture_calls": 0}, "blocked": [], "seq": _current_seq()}
        os.write(fd, (json.dumps(line) + "\n").encode())
    return out
"#;

/// Materialises N×N, then resets tracemalloc's peak before returning.
pub const TRACEMALLOC_RESET: &str = r#"
import tracemalloc


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    out = naive(Q, K, V, causal)
    tracemalloc.reset_peak()
    return out
"#;

/// Materialises N×N in an anonymous mmap, which tracemalloc never sees.
pub const MMAP_SCORES: &str = r#"
import mmap


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    B, H, N, D = Q.shape
    out = np.empty(Q.shape)
    buf = mmap.mmap(-1, N * N * 8)
    s = np.frombuffer(buf, dtype=np.float64).reshape(N, N)
    for b in range(B):
        for h in range(H):
            np.matmul(Q[b, h], K[b, h].T, out=s)
            s /= np.sqrt(D)
            if causal:
                for i in range(N):
                    s[i, i + 1:] = -np.inf
            s -= s.max(axis=1, keepdims=True)
            np.exp(s, out=s)
            total = s.sum(axis=1, keepdims=True)
            for i in range(0, N, 256):
                out[b, h, i:i + 256] = (s[i:i + 256] / total[i:i + 256]) @ V[b, h]
    del s
    buf.close()
    return out
"#;

/// Computes the N×N scores in a buffer allocated (and touched) at import, outside every
/// measured call: nothing is allocated during the call itself.
pub const PREALLOCATED_AT_IMPORT: &str = r#"
_SCORES = np.ones((4096, 4096))


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    B, H, N, D = Q.shape
    if N != 4096:
        return naive(Q, K, V, causal)
    out = np.empty(Q.shape)
    s = _SCORES
    for b in range(B):
        for h in range(H):
            np.matmul(Q[b, h], K[b, h].T, out=s)
            s /= np.sqrt(D)
            if causal:
                for i in range(N):
                    s[i, i + 1:] = -np.inf
            s -= s.max(axis=1, keepdims=True)
            np.exp(s, out=s)
            total = s.sum(axis=1, keepdims=True)
            for i in range(0, N, 256):
                out[b, h, i:i + 256] = (s[i:i + 256] / total[i:i + 256]) @ V[b, h]
    return out
"#;

/// Materialises N×N after rebinding the worker's own captured functions (closure cells of its
/// call handler): tracemalloc's reader reports nothing, the clock stands still.
pub const REBINDS_WORKER: &str = r#"
import gc


def _rebind():
    for f in gc.get_objects():
        if type(f).__name__ == "function" and f.__code__.co_name == "call" and f.__closure__:
            for name, cell in zip(f.__code__.co_freevars, f.__closure__):
                if name == "traced_memory":
                    cell.cell_contents = lambda: (0, 0)
                if name == "perf_counter":
                    cell.cell_contents = lambda: 0.0


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    _rebind()
    return naive(Q, K, V, causal)
"#;

/// Writes fake protocol lines (a plausible answer, garbage, an error of no kind) to every
/// file descriptor it has, then answers correctly.
pub const FD_SPRAY: &str = r#"
import json, os


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    fake = json.dumps({"ok": {"value": 1.0, "seconds": 0.0, "peak_bytes": 0, "fixture_calls": 0}, "seq": 1})
    for fd in range(0, 1024):
        for line in (fake, "garbage {", '{"error": {"kind": "nonsense"}}'):
            try:
                os.write(fd, (line + "\n").encode())
            except OSError:
                pass
    return naive(Q, K, V, causal)
"#;

/// Writes a 40 MiB line without an end to the response pipe, then answers correctly.
pub const HUGE_LINE: &str = r#"
import fcntl, os, stat


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
            if fd >= 100 and stat.S_ISFIFO(os.fstat(fd).st_mode) and mode == os.O_WRONLY:
                for _ in range(40):
                    os.write(fd, b"x" * (1 << 20))
        except OSError:
            pass
    return naive(Q, K, V, causal)
"#;

/// Walks every gc object and every frame for arrays of the output's shape that are not its
/// inputs — an expected answer, were the judge ever to send one — and returns the first.
pub const GC_WALK: &str = r#"
import gc, sys


def _not_an_input(a, inputs):
    return isinstance(a, np.ndarray) and a.shape == inputs[0].shape and not any(a is x for x in inputs)


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    inputs = (Q, K, V)
    found = [o for o in gc.get_objects() if _not_an_input(o, inputs)]
    frame = sys._getframe()
    while frame is not None:
        found += [v for v in list(frame.f_locals.values()) if _not_an_input(v, inputs)]
        frame = frame.f_back
    print("arrays of the output's shape found:", len(found))
    return found[0] if found else np.zeros(Q.shape)
"#;

/// Returns an ndarray subclass whose dtype, shape, astype, __array__, __eq__ and __float__
/// lie (data: zeros), and for float32 inputs an object that claims to be an ndarray.
pub const LYING_ARRAYS: &str = r#"
class Liar(np.ndarray):
    @property
    def dtype(self):
        return np.dtype(np.int8)

    @property
    def shape(self):
        return (1,)

    def astype(self, *args, **kwargs):
        return np.ones(1)

    def __array__(self, dtype=None, copy=None):
        return np.ones(1)

    def __eq__(self, other):
        return True

    def __float__(self):
        return 0.0


class Pretender:
    @property
    def __class__(self):
        return np.ndarray

    def __array__(self, dtype=None, copy=None):
        return np.zeros((1, 1, 1, 1))

    def __eq__(self, other):
        return True

    def __float__(self):
        return 0.0


def flash_attention_fwd(Q, K, V, tile_size, causal=True):
    if Q.dtype == np.float32:
        return Pretender()
    return np.zeros(Q.shape).view(Liar)
"#;

/// A flash-attention submission: [`NAIVE`], then `attack`.
pub fn flash(attack: &str) -> String {
    format!("{NAIVE}\n{attack}")
}

/// The graders' correct fixture `<grader>/tests/fixtures/correct/<file>`.
fn correct(grader: &str, file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../graders")
        .join(grader)
        .join("tests/fixtures/correct")
        .join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `source` with each `(find, replace)` applied; every `find` must occur exactly once, so a
/// change of the correct fixture breaks the attack loudly instead of silently.
fn edited(source: String, edits: &[(&str, &str)]) -> String {
    edits.iter().fold(source, |text, (find, replace)| {
        assert_eq!(text.matches(find).count(), 1, "edit anchor {find:?}");
        text.replacen(find, replace, 1)
    })
}

const ONE_FORWARD: &str =
    "    logits = np.asarray(target_model(list(prompt_tokens) + list(tree_tokens), mask))\n";

/// One counted forward, then a causal forward per accepted token on the model inside the
/// fixture wrapper (`_judge_fixture`), which the worker's counter never saw.
pub fn dflash_uncounted_forwards() -> String {
    edited(
        correct("dflash_verify", "dflash_verify.py"),
        &[
            (
                "def verify_and_accept(",
                "def _uncounted(model):\n    try:\n        return object.__getattribute__(model, \"_judge_fixture\")\n    except AttributeError:\n        return model\n\n\ndef verify_and_accept(",
            ),
            (
                "    new_token = int(np.argmax(logits[row_after(path_end)]))",
                "    raw, seq = _uncounted(target_model), list(prompt_tokens)\n    for token in accepted:\n        seq.append(token)\n        raw(seq, np.tril(np.ones((len(seq), len(seq)), dtype=bool)))\n    new_token = int(np.argmax(logits[row_after(path_end)]))",
            ),
        ],
    )
}

/// Three forwards per verification, then takes two back from the counter it finds in the
/// fixture wrapper's closures.
pub fn dflash_rewinds_counter() -> String {
    edited(
        correct("dflash_verify", "dflash_verify.py"),
        &[
            (
                "def verify_and_accept(",
                r#"def _rewind(model, calls):
    for attr in ("__getattr__", "__call__"):
        fn = getattr(type(model), attr, None)
        names = getattr(getattr(fn, "__code__", None), "co_freevars", ())
        for name, cell in zip(names, getattr(fn, "__closure__", None) or ()):
            if name == "fixture_calls" and type(cell.cell_contents) is dict:
                cell.cell_contents[object.__getattribute__(model, "_judge_id")] -= calls
                return


def verify_and_accept("#,
            ),
            (
                ONE_FORWARD,
                &format!(
                    "{ONE_FORWARD}    for _ in range(2):\n        target_model.forward(list(prompt_tokens) + list(tree_tokens), mask)\n    _rewind(target_model, 2)\n"
                ),
            ),
        ],
    )
}

/// A cache holding eight spare copies of its buffers (5× the tokens' bytes), which patches the
/// grader's in-worker probe so that it reports holding nothing.
pub fn kv_patches_probe() -> String {
    edited(
        correct("kv", "kv_cache.py"),
        &[
            (
                "        self.values = np.zeros(shape, dtype=dtype)\n",
                "        self.values = np.zeros(shape, dtype=dtype)\n        self.spare = [np.ones(shape, dtype=dtype) for _ in range(8)]\n",
            ),
            (
                "class KVCache:",
                "import sys\n\nif \"judge_fixture_kv_probe\" in sys.modules:\n    sys.modules[\"judge_fixture_kv_probe\"].traced_memory = lambda: (0, 0)\n\n\nclass KVCache:",
            ),
        ],
    )
}
