"""NumPy twin of the Rust `beam_search::ScriptedModel` (reference/beam-search/src/scripted.rs).

Next-token logits are looked up by the FULL context (prompt + generated tokens so far): an
exact-match rule, else the default. A grader builds the script in Rust and sends
`ScriptedModel::to_json()`:

    {"vocab_size": V, "default_logits": [..V], "rules": [{"context": [..], "logits": [..V]}, ...]}

(`-inf` logits travel as the string "-inf").

Calls answered, like the TinyLM fixture:
    model.next_token_logits(sequences)  -> (batch, vocab)   one row per sequence (any lengths)
    model(token_ids, mask) / model.forward(token_ids, mask) -> (len, vocab)
        row i is the script's answer for the visible tokens [token_ids[j] for j if mask[i, j]]
Calls are counted in `next_token_calls` and `forward_calls`.
"""

import json

import numpy as np


def allowed_positions(mask, length):
    """The boolean "may attend" matrix; same conventions as `allowed_positions` in tiny_lm.py
    (None means causal).

    bool: True = may attend. Integer: nonzero. Float: additive when any entry is negative
    (0 = may attend, -inf or a large negative = masked), else 0/1 (an all-zero float mask is the
    additive "everything allowed"). Leading singleton axes are dropped.
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


class ScriptedLM:
    def __init__(self, vocab_size, default_logits, rules=()):
        self.vocab_size = int(vocab_size)
        self.default_logits = self._logits_array(default_logits)
        self.rules = {}
        for rule in rules:
            context, logits = (rule["context"], rule["logits"]) if isinstance(rule, dict) else rule
            self.rules[tuple(int(t) for t in context)] = self._logits_array(logits)
        self.next_token_calls = 0
        self.forward_calls = 0

    @classmethod
    def from_json(cls, spec):
        """Builds the model from `ScriptedModel::to_json()` (a dict or its JSON text)."""
        if isinstance(spec, (str, bytes)):
            spec = json.loads(spec)
        return cls(spec["vocab_size"], spec["default_logits"], spec.get("rules", ()))

    def _logits_array(self, logits):
        array = np.array([float(x) for x in logits], dtype=np.float64)
        if array.shape != (self.vocab_size,):
            raise ValueError(f"logits of length {len(array)} for a vocabulary of {self.vocab_size}")
        return array

    def script_logits(self, context):
        """The logits the script answers after `context`."""
        return self.rules.get(tuple(int(t) for t in context), self.default_logits)

    def next_token_logits(self, sequences):
        """(batch, vocab): the script's answer after each sequence."""
        self.next_token_calls += 1
        rows = [self.script_logits(sequence) for sequence in sequences]
        return np.stack(rows) if rows else np.zeros((0, self.vocab_size))

    def __call__(self, token_ids, mask=None):
        return self.forward(token_ids, mask)

    def forward(self, token_ids, mask=None):
        """(len, vocab): row i answers the context of the tokens row i may attend to."""
        self.forward_calls += 1
        tokens = [int(t) for t in np.asarray(token_ids).reshape(-1)]
        allowed = allowed_positions(mask, len(tokens))
        return np.stack([
            self.script_logits([t for t, visible in zip(tokens, allowed[i]) if visible])
            for i in range(len(tokens))
        ])
