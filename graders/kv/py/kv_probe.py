"""Drives a submission's KV cache through a whole decode inside one call, so that thousands of
steps cost no bridge round trips, and measures it as it goes.

Memory is measured with tracemalloc, which the worker restarts for every call: everything the
cache allocates during this call is traced, nothing from before is. The probe therefore builds
its own cache, of the submission's class, after taking its baseline; its own buffers (outputs,
measurements, the per-step copies of the inputs) are allocated before the baseline or freed
before each measurement, so `held` is what the cache keeps and `step` what one step allocates
on top of it.

The measuring functions are bound when this module loads, before the submission's: patching
`tracemalloc` or `time` later changes nothing here, and a run during which tracing was stopped
reports no measurement at all.
"""
import _tracemalloc
from time import perf_counter

import numpy as np

traced_memory = _tracemalloc.get_traced_memory
reset_peak = _tracemalloc.reset_peak
is_tracing = _tracemalloc.is_tracing
stop_tracing = _tracemalloc.stop


class DecodeProbe:
    def decode(self, cache, dims, seq_ids, keys, values, queries, measure, time_limit):
        """One decoding step per row of keys/values/queries (each (T, n, H, d)): append the
        step's k, v for `seq_ids`, then attend its q. A fresh cache of `type(cache)` is built
        with `dims` = (batch_size, num_heads, head_dim, max_len)."""
        steps, n, heads, head_dim = queries.shape
        outputs = np.zeros(queries.shape, dtype=np.float64)
        held = np.zeros(steps, dtype=np.int64)
        step_peak = np.zeros(steps, dtype=np.int64)
        ids = [int(i) for i in seq_ids]
        if not measure and is_tracing():
            stop_tracing()  # tracing slows every allocation; the long run only needs the time
        measuring = measure and is_tracing()
        baseline = traced_memory()[0] if measuring else 0
        fresh = type(cache)(*[int(x) for x in dims])
        started = perf_counter()
        for t in range(steps):
            k, v, q = keys[t].copy(), values[t].copy(), queries[t].copy()
            if measuring:
                before = traced_memory()[0]
                reset_peak()
            fresh.append(ids, k, v)
            out = fresh.attend(ids, q)
            if measuring:
                step_peak[t] = traced_memory()[1] - before
            out = np.asarray(out)
            if out.shape != (n, heads, head_dim) or out.dtype.kind not in "fiu":
                return {"error": "step %d: attend returned %s %s, expected (%d, %d, %d)"
                        % (t, out.dtype, list(out.shape), n, heads, head_dim)}
            outputs[t] = out
            del out, k, v, q
            if measuring:
                held[t] = traced_memory()[0] - baseline
            if perf_counter() - started > time_limit:
                return {"completed": t + 1, "seconds": perf_counter() - started}
        result = {"completed": steps, "seconds": perf_counter() - started, "outputs": outputs}
        if measuring and is_tracing():
            result["held"] = held
            result["step"] = step_peak
        return result
