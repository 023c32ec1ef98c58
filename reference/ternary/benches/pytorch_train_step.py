"""The Path-B ternary training step in PyTorch (eager, CPU): the outside anchor of
`cargo bench -p ternary --bench train_step`.

Runs only in the benchmark's own virtual environment (scripts/bench-pytorch-venv.sh), never in
the managed grading environment. The model is the reference's (reference/ternary/src/model):
untied ternary embedding and LM head, RMSNorm before attention and MLP, per-head q/k RMSNorm,
rotate-half RoPE (theta 1e4), GQA 8/4, SwiGLU (ffn 1536), no biases, no activation
quantisation. Every linear weight runs as its ternary projection (groups of 128 consecutive
weights, s = mean|W|, codes r > 0.5 -> +1, r < -0.5 -> -1, else 0) through the straight-through
estimator w + (project(w) - w).detach(). One step is what the Rust step is: projection,
forward, backward, global-norm clipping to 1.0 and AdamW (0.9, 0.95, eps 1e-8, decay 0.05 on the
ternary weights only).

Differences from the Rust reference, none of which changes the work per step by much:
attention is torch's scaled_dot_product_attention (causal; what a PyTorch user would write)
rather than the explicit T x T softmax, and weights are initialised by torch's generator.

    python pytorch_train_step.py --threads 2 [--batch 16 --seq 128 --steps 3]

Prints `key value` lines (tokens_per_s, step_seconds, step_gflops, matmul_gflops) for the
bench script to collect.
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F

VOCAB, D_MODEL, N_LAYERS, N_HEADS, N_KV_HEADS, HEAD_DIM, FFN = 256, 512, 6, 8, 4, 64, 1536
GROUP, ROPE_THETA, EPS = 128, 10_000.0, 1e-6


def ternary(w):
    """Groups of 128 consecutive (row-major) weights, s = mean|W| per group, s constant."""
    groups = w.detach().reshape(-1, GROUP)
    scale = groups.abs().mean(dim=1, keepdim=True)
    r = groups / scale.clamp_min(torch.finfo(w.dtype).tiny)
    codes = (r > 0.5).to(w.dtype) - (r < -0.5).to(w.dtype)
    return (codes * scale).reshape(w.shape)


def ste(w):
    """Forward with the projection, backward straight through to the latent weight."""
    return w + (ternary(w) - w).detach()


def rms_norm(x, gain):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + EPS) * gain


def rope_tables(seq_len):
    half = HEAD_DIM // 2
    freq = ROPE_THETA ** (-2.0 * torch.arange(half, dtype=torch.float64) / HEAD_DIM)
    angle = torch.arange(seq_len, dtype=torch.float64)[:, None] * freq[None, :]
    return angle.cos().float(), angle.sin().float()


def rotate(x, cos, sin):
    """Rotate-half RoPE on [batch, heads, seq, head_dim]."""
    a, b = x[..., : HEAD_DIM // 2], x[..., HEAD_DIM // 2 :]
    return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)


class TernaryQwen3(torch.nn.Module):
    def __init__(self):
        super().__init__()

        def latent(rows, cols, fan_in):
            return torch.nn.Parameter(torch.randn(rows, cols) * fan_in**-0.5)

        def gain(n):
            return torch.nn.Parameter(torch.ones(n))

        q, kv = N_HEADS * HEAD_DIM, N_KV_HEADS * HEAD_DIM
        self.embed = latent(VOCAB, D_MODEL, 1)
        self.blocks = torch.nn.ModuleList()
        for _ in range(N_LAYERS):
            block = torch.nn.Module()
            block.input_norm = gain(D_MODEL)
            block.q_proj = latent(q, D_MODEL, D_MODEL)
            block.k_proj = latent(kv, D_MODEL, D_MODEL)
            block.v_proj = latent(kv, D_MODEL, D_MODEL)
            block.o_proj = latent(D_MODEL, q, q)
            block.q_norm = gain(HEAD_DIM)
            block.k_norm = gain(HEAD_DIM)
            block.post_norm = gain(D_MODEL)
            block.gate_proj = latent(FFN, D_MODEL, D_MODEL)
            block.up_proj = latent(FFN, D_MODEL, D_MODEL)
            block.down_proj = latent(D_MODEL, FFN, FFN)
            self.blocks.append(block)
        self.final_norm = gain(D_MODEL)
        self.lm_head = latent(VOCAB, D_MODEL, D_MODEL)

    def forward(self, tokens, cos, sin):
        batch, seq = tokens.shape
        x = F.embedding(tokens, ste(self.embed))
        for b in self.blocks:
            h = rms_norm(x, b.input_norm)
            q = F.linear(h, ste(b.q_proj)).view(batch, seq, N_HEADS, HEAD_DIM)
            k = F.linear(h, ste(b.k_proj)).view(batch, seq, N_KV_HEADS, HEAD_DIM)
            v = F.linear(h, ste(b.v_proj)).view(batch, seq, N_KV_HEADS, HEAD_DIM)
            q = rotate(rms_norm(q, b.q_norm).transpose(1, 2), cos, sin)
            k = rotate(rms_norm(k, b.k_norm).transpose(1, 2), cos, sin)
            v = v.transpose(1, 2)
            group = N_HEADS // N_KV_HEADS
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
            attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            attn = attn.transpose(1, 2).reshape(batch, seq, N_HEADS * HEAD_DIM)
            x = x + F.linear(attn, ste(b.o_proj))
            h = rms_norm(x, b.post_norm)
            act = F.silu(F.linear(h, ste(b.gate_proj))) * F.linear(h, ste(b.up_proj))
            x = x + F.linear(act, ste(b.down_proj))
        return F.linear(rms_norm(x, self.final_norm), ste(self.lm_head))


def training_flops(batch, seq):
    """The Rust bench's count (ModelConfig::training_flops): 3 x forward matmul FLOPs."""
    tokens = batch * seq
    per_block = D_MODEL * HEAD_DIM * (2 * N_HEADS + 2 * N_KV_HEADS) + 3 * D_MODEL * FFN
    linear = N_LAYERS * per_block + VOCAB * D_MODEL
    attention = 4 * batch * N_HEADS * seq * seq * HEAD_DIM * N_LAYERS
    return 3.0 * (2.0 * tokens * linear + attention)


def matmul_gflops(m, k, n, repeats=5):
    x, w = torch.randn(m, k), torch.randn(n, k)
    x @ w.t()
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        x @ w.t()
        best = min(best, time.perf_counter() - t)
    return 2.0 * m * k * n / best / 1e9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = TernaryQwen3()
    gains = [p for n, p in model.named_parameters() if p.dim() == 1]
    latents = [p for n, p in model.named_parameters() if p.dim() == 2]
    optimizer = torch.optim.AdamW(
        [{"params": latents, "weight_decay": 0.05}, {"params": gains, "weight_decay": 0.0}],
        lr=1e-3,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    cos, sin = rope_tables(args.seq)
    tokens = args.batch * args.seq
    matmul_before = matmul_gflops(tokens, D_MODEL, FFN)

    timed = 0.0
    for step in range(args.steps + 1):  # step 0 warms up, untimed
        inputs = torch.randint(0, VOCAB, (args.batch, args.seq))
        targets = torch.randint(0, VOCAB, (args.batch, args.seq))
        started = time.perf_counter()
        logits = model(inputs, cos, sin)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step > 0:
            timed += time.perf_counter() - started
    matmul_after = matmul_gflops(tokens, D_MODEL, FFN)

    step_seconds = timed / args.steps
    print(f"torch_version {torch.__version__}")
    print(f"threads {torch.get_num_threads()}")
    print(f"step_seconds {step_seconds:.4f}")
    print(f"tokens_per_s {tokens / step_seconds:.1f}")
    print(f"step_gflops {training_flops(args.batch, args.seq) / step_seconds / 1e9:.2f}")
    print(f"matmul_gflops {max(matmul_before, matmul_after):.2f}")


if __name__ == "__main__":
    main()
