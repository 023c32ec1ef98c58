"""NumPy twin of the Rust `tiny-lm` crate (reference/tiny-lm/src/model.rs).

Same math in the same order, so both sides agree to ~1e-13 in f64:

    x0     = embed[tokens]                                   (L, d)
    x1     = x0 + attention(rms_norm(x0, attn_norm), mask)   4 heads of 16, no positions
    x2     = x1 + gelu(rms_norm(x1, mlp_norm) @ w_up) @ w_down
    logits = rms_norm(x2, final_norm) @ lm_head              (L, vocab)

    attention, per head:  s = q k^T / sqrt(16); s[~mask] = -inf; p = softmax rows; out = p v
                          concat heads, then @ wo
    rms_norm(x, g) = x / sqrt(mean(x^2) + 1e-6) * g
    gelu(x)        = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))

There is no position encoding on purpose: tree verification passes no position ids, and only
then are a tree node's logits under the tree mask equal to the autoregressive logits of its path.

The weights come from Rust (`TinyLm::weights()`), one `<name>.npy` per array.
"""

import os

import numpy as np

WEIGHT_NAMES = (
    "embed", "attn_norm", "wq", "wk", "wv", "wo",
    "mlp_norm", "w_up", "w_down", "final_norm", "lm_head",
)
N_HEADS = 4
RMS_NORM_EPS = 1e-6


def _rms_norm(x, gain):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + RMS_NORM_EPS) * gain


def _gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x * x * x)))


def _softmax_rows(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def allowed_positions(mask, length):
    """The boolean "may attend" matrix (length, length) for any common mask convention; no
    mask (None) means causal.

    bool: True = may attend. Integer: nonzero = may attend. Float: additive when any entry is
    negative (0 = may attend, -inf or a large negative = masked), otherwise 0/1 (1 = may attend;
    an all-zero float mask is the additive "everything allowed"). Leading singleton (batch,
    head) axes are dropped.
    """
    if mask is None:
        return np.tril(np.ones((length, length), dtype=bool))
    m = np.asarray(mask)
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if m.shape != (length, length):
        raise ValueError(f"mask has shape {np.asarray(mask).shape}, expected ({length}, {length})")
    if m.dtype == np.bool_:
        return m
    if np.issubdtype(m.dtype, np.integer):
        return m != 0
    m = m.astype(np.float64)
    if (m < 0).any() or not m.any():
        return m > -1.0
    return m != 0


class TinyLM:
    """Tiny position-free transformer LM built from the Rust weights (a dict name -> array).

    `model(token_ids, mask)` and `model.forward(token_ids, mask)` return logits (len, vocab);
    `model.next_token_logits(sequences)` returns (batch, vocab), the causal next-token logits of
    each sequence (lengths may differ). Calls are counted in `forward_calls` and
    `next_token_calls` so a grader can check, e.g., one forward per verification.
    """

    def __init__(self, weights, n_heads=N_HEADS):
        missing = [name for name in WEIGHT_NAMES if name not in weights]
        if missing:
            raise ValueError(f"missing weights: {missing}")
        for name in WEIGHT_NAMES:
            setattr(self, name, np.asarray(weights[name], dtype=np.float64))
        self.vocab_size, self.d_model = self.embed.shape
        self.n_heads = n_heads
        self.head_dim = self.d_model // n_heads
        self.forward_calls = 0
        self.next_token_calls = 0

    @classmethod
    def from_dir(cls, directory, n_heads=N_HEADS):
        """Loads `<directory>/<name>.npy` for every weight name."""
        return cls({n: np.load(os.path.join(directory, n + ".npy")) for n in WEIGHT_NAMES}, n_heads)

    def __call__(self, token_ids, mask=None):
        return self.forward(token_ids, mask)

    def forward(self, token_ids, mask=None):
        """Logits (len, vocab); a (1, len) batch of token ids gives (1, len, vocab)."""
        self.forward_calls += 1
        tokens = np.asarray(token_ids, dtype=np.int64)
        if tokens.ndim == 2 and tokens.shape[0] == 1:
            return self._logits(tokens[0], mask)[None]
        return self._logits(tokens, mask)

    def next_token_logits(self, sequences):
        """(batch, vocab): the last row of a causal forward of each sequence."""
        self.next_token_calls += 1
        rows = []
        for sequence in sequences:
            tokens = np.asarray(sequence, dtype=np.int64)
            causal = np.tril(np.ones((len(tokens), len(tokens)), dtype=bool))
            rows.append(self._logits(tokens, causal)[-1])
        return np.stack(rows) if rows else np.zeros((0, self.vocab_size))

    def _logits(self, tokens, mask):
        if tokens.ndim != 1 or len(tokens) == 0:
            raise ValueError("token_ids must be a non-empty 1-D sequence")
        if tokens.min() < 0 or tokens.max() >= self.vocab_size:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        allowed = allowed_positions(mask, len(tokens))
        if not allowed.any(axis=-1).all():
            raise ValueError("a mask row allows no position: softmax over nothing is undefined")
        x0 = self.embed[tokens]
        x1 = x0 + self._attention(_rms_norm(x0, self.attn_norm), allowed)
        hidden = _gelu(_rms_norm(x1, self.mlp_norm) @ self.w_up)
        x2 = x1 + hidden @ self.w_down
        return _rms_norm(x2, self.final_norm) @ self.lm_head

    def _attention(self, h, allowed):
        q, k, v = h @ self.wq, h @ self.wk, h @ self.wv
        scale = 1.0 / np.sqrt(self.head_dim)
        heads = np.zeros_like(h)
        for head in range(self.n_heads):
            cols = slice(head * self.head_dim, (head + 1) * self.head_dim)
            scores = (q[:, cols] @ k[:, cols].T) * scale
            scores = np.where(allowed, scores, -np.inf)
            heads[:, cols] = _softmax_rows(scores) @ v[:, cols]
        return heads @ self.wo
