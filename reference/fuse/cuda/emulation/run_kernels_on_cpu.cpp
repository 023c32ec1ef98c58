// Runs the fused kernel (or the naive pair) on the CPU through cuda_on_cpu.h.
// stdin: "fused|naive rows vocab k offset\n" then rows*vocab little-endian f32 logits.
// The logits are placed `offset` floats past a 16-byte boundary, to exercise the head/float4
// body/tail split of rows that do not start aligned.
// stdout: rows*k i32 indices, then rows*k f32 probabilities.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cuda_on_cpu.h"

#include "../fused_softmax_topk.cu"
#include "../naive_softmax_topk.cu"

int main() {
    char mode[16] = {0};
    int rows = 0, vocab = 0, k = 0, offset = 0;
    if (std::scanf("%15s %d %d %d %d", mode, &rows, &vocab, &k, &offset) != 5 || std::getchar() != '\n') {
        std::fprintf(stderr, "expected header: fused|naive rows vocab k offset\n");
        return 2;
    }
    if (rows < 1 || vocab < 1 || k < 1 || k > vocab || k > FUSE_MAX_K || offset < 0 || offset > 3) {
        std::fprintf(stderr, "unsupported shape rows=%d vocab=%d k=%d offset=%d\n", rows, vocab, k, offset);
        return 2;
    }
    const size_t count = (size_t)rows * (size_t)vocab;
    std::vector<float4> storage(count / 4 + 2);
    float* logits = reinterpret_cast<float*>(storage.data()) + offset;
    if (std::fread(logits, sizeof(float), count, stdin) != count) {
        std::fprintf(stderr, "expected %zu logits on stdin\n", count);
        return 2;
    }
    std::vector<int> top_idx((size_t)rows * k);
    std::vector<float> top_prob((size_t)rows * k);
    if (std::string(mode) == "fused") {
        launch_emulated(rows, FUSE_BLOCK_THREADS,
                        [&] { fused_softmax_topk_kernel(logits, vocab, k, top_idx.data(), top_prob.data()); });
    } else if (std::string(mode) == "naive") {
        std::vector<float4> probs_storage(count / 4 + 1);
        float* probs = reinterpret_cast<float*>(probs_storage.data());
        launch_emulated(rows, FUSE_BLOCK_THREADS, [&] { naive_softmax_kernel(logits, vocab, probs); });
        launch_emulated(rows, FUSE_BLOCK_THREADS,
                        [&] { naive_topk_kernel(probs, vocab, k, top_idx.data(), top_prob.data()); });
    } else {
        std::fprintf(stderr, "mode must be fused or naive, not %s\n", mode);
        return 2;
    }
    std::fwrite(top_idx.data(), sizeof(int), top_idx.size(), stdout);
    std::fwrite(top_prob.data(), sizeof(float), top_prob.size(), stdout);
    return 0;
}
