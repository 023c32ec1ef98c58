// Fused softmax + top-k: one block per row, the row read once, only k indices and k
// probabilities written. Compiles under NVRTC as is (kernel only); the C entry point
// `fused_softmax_topk` is in fused_softmax_topk_host.cu.

#include "softmax_topk_device.cuh"

// logits [rows, vocab] row-major, rows = gridDim.x; top_idx, top_prob [rows, k], best first.
// Requires 1 <= k <= min(vocab, FUSE_MAX_K) and blockDim.x == FUSE_BLOCK_THREADS.
extern "C" __global__ void __launch_bounds__(FUSE_BLOCK_THREADS)
    fused_softmax_topk_kernel(const float* __restrict__ logits, int vocab, int k, int* __restrict__ top_idx,
                              float* __restrict__ top_prob) {
    __shared__ CandidateBuffer candidates;
    const float* row = logits + (long long)blockIdx.x * vocab;

    const SoftmaxState thread_state = stream_row<true>(row, vocab, k, candidates);
    const SoftmaxState row_state = softmax_block_merge(thread_state);

    // A row of −inf only: the limit of equal logits, uniform over the first k columns.
    const bool all_neg_inf = row_state.max == neg_inf();
    const float uniform = 1.0f / (float)vocab;
    for (int rank = threadIdx.x; rank < k; rank += FUSE_BLOCK_THREADS) {
        const candidate_key key = candidates.keys[rank];
        const long long out = (long long)blockIdx.x * k + rank;
        top_idx[out] = key_index(key);
        top_prob[out] = all_neg_inf ? uniform : expf(key_value(key) - row_state.max) / row_state.sum;
    }
}
