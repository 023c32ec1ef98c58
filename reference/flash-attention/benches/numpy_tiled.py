"""NumPy tiled flash attention, the baseline of benches/flash.rs.

Same algorithm and sizes as the Rust reference, batched over (B, H) with np.matmul, one BLAS
thread (the caller sets OPENBLAS_NUM_THREADS=1 and friends). Prints one line per
measurement: case, dtype, best wall seconds, best CPU seconds of the calling thread.
"""

import json
import sys
import time

import numpy as np


def causal_mask(q0, q1, k0, k1):
    return np.arange(k0, k1)[None, :] > np.arange(q0, q1)[:, None]


def forward(Q, K, V, T, causal):
    B, H, N, D = Q.shape
    scale = 1.0 / np.sqrt(D)
    O = np.empty_like(Q)
    L = np.empty((B, H, N), Q.dtype)
    for q0 in range(0, N, T):
        q1 = min(q0 + T, N)
        q = Q[:, :, q0:q1] * Q.dtype.type(scale)
        m = np.full((B, H, q1 - q0, 1), -np.inf, Q.dtype)
        l = np.zeros_like(m)
        acc = np.zeros((B, H, q1 - q0, D), Q.dtype)
        for k0 in range(0, q1 if causal else N, T):
            k1 = min(k0 + T, N)
            s = q @ K[:, :, k0:k1].swapaxes(-1, -2)
            if causal and k1 - 1 > q0:
                s[..., causal_mask(q0, q1, k0, k1)] = -np.inf
            m_new = np.maximum(m, s.max(-1, keepdims=True))
            correction = np.exp(m - m_new)
            p = np.exp(s - m_new)
            l = l * correction + p.sum(-1, keepdims=True)
            acc = acc * correction + p @ V[:, :, k0:k1]
            m = m_new
        O[:, :, q0:q1] = acc / l
        L[:, :, q0:q1] = (m + np.log(l))[..., 0]
    return O, L


def backward(dO, Q, K, V, O, L, T, causal):
    B, H, N, D = Q.shape
    scale = Q.dtype.type(1.0 / np.sqrt(D))
    row_dot = (dO * O).sum(-1)[..., None]
    dQ, dK, dV = np.zeros_like(Q), np.zeros_like(K), np.zeros_like(V)
    for k0 in range(0, N, T):
        k1 = min(k0 + T, N)
        k, v = K[:, :, k0:k1], V[:, :, k0:k1]
        for q0 in range((k0 // T) * T if causal else 0, N, T):
            q1 = min(q0 + T, N)
            q, do = Q[:, :, q0:q1], dO[:, :, q0:q1]
            s = (q @ k.swapaxes(-1, -2)) * scale
            if causal and k1 - 1 > q0:
                s[..., causal_mask(q0, q1, k0, k1)] = -np.inf
            p = np.exp(s - L[:, :, q0:q1, None])
            dV[:, :, k0:k1] += p.swapaxes(-1, -2) @ do
            ds = p * (do @ v.swapaxes(-1, -2) - row_dot[:, :, q0:q1])
            dQ[:, :, q0:q1] += (ds @ k) * scale
            dK[:, :, k0:k1] += (ds.swapaxes(-1, -2) @ q) * scale
    return dQ, dK, dV


def best_of(repetitions, call):
    wall = cpu = float("inf")
    for _ in range(repetitions):
        start, cpu_start = time.perf_counter(), time.thread_time()
        call()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.thread_time() - cpu_start)
    return wall, cpu


def main():
    forward_shape, backward_shape, tile, repetitions = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        a = rng.standard_normal((1024, 1024)).astype(dtype)
        print("matmul-1024", name, *best_of(repetitions, lambda: a @ a), flush=True)

        Q, K, V = (rng.standard_normal(forward_shape).astype(dtype) for _ in range(3))
        print("forward", name, *best_of(repetitions, lambda: forward(Q, K, V, tile, True)), flush=True)

        Q, K, V, dO = (rng.standard_normal(backward_shape).astype(dtype) for _ in range(4))
        O, L = forward(Q, K, V, tile, True)
        print("backward", name, *best_of(repetitions, lambda: backward(dO, Q, K, V, O, L, tile, True)), flush=True)


if __name__ == "__main__":
    main()
