// The unfused baseline, for the benchmark: a softmax kernel that writes the whole [rows, vocab]
// probability matrix to global memory (three passes over the logits: max, sum, normalise), then a
// top-k kernel that reads it back and selects with the same block-wide candidate buffer as the
// fused kernel. Global traffic ~ 3 reads + 1 write + 1 read of rows·vocab floats, against 1 read
// fused. Compiles under NVRTC as is; the C entry point is in naive_softmax_topk_host.cu.
//
// Ties among equal probabilities go to the lower index, so where exp underflows the order can
// differ from the fused kernel's (which ranks the exact logits); use it for timing.

#include "softmax_topk_device.cuh"

static __device__ float block_max(float value) {
    __shared__ float per_warp[FUSE_WARPS];
    __shared__ float whole_block;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        value = fmaxf(value, __shfl_xor_sync(FUSE_FULL_WARP, value, offset));
    }
    if ((threadIdx.x & 31) == 0) {
        per_warp[threadIdx.x >> 5] = value;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float max = per_warp[0];
        for (int warp = 1; warp < FUSE_WARPS; ++warp) {
            max = fmaxf(max, per_warp[warp]);
        }
        whole_block = max;
    }
    __syncthreads();
    return whole_block;
}

static __device__ float block_sum(float value) {
    __shared__ float per_warp[FUSE_WARPS];
    __shared__ float whole_block;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        value += __shfl_xor_sync(FUSE_FULL_WARP, value, offset);
    }
    if ((threadIdx.x & 31) == 0) {
        per_warp[threadIdx.x >> 5] = value;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float sum = 0.0f;
        for (int warp = 0; warp < FUSE_WARPS; ++warp) {
            sum += per_warp[warp];
        }
        whole_block = sum;
    }
    __syncthreads();
    return whole_block;
}

// probs[r, c] = exp(logits[r, c] - max_r) / sum_r: the matrix the fused kernel never writes.
extern "C" __global__ void __launch_bounds__(FUSE_BLOCK_THREADS)
    naive_softmax_kernel(const float* __restrict__ logits, int vocab, float* __restrict__ probs) {
    const float* row = logits + (long long)blockIdx.x * vocab;
    float* out = probs + (long long)blockIdx.x * vocab;

    float thread_max = neg_inf();
    for (int column = threadIdx.x; column < vocab; column += FUSE_BLOCK_THREADS) {
        thread_max = fmaxf(thread_max, row[column]);
    }
    const float row_max = block_max(thread_max);

    float thread_sum = 0.0f;
    if (row_max != neg_inf()) {
        for (int column = threadIdx.x; column < vocab; column += FUSE_BLOCK_THREADS) {
            thread_sum += expf(row[column] - row_max);
        }
    }
    const float row_sum = block_sum(thread_sum);

    const float uniform = 1.0f / (float)vocab;
    for (int column = threadIdx.x; column < vocab; column += FUSE_BLOCK_THREADS) {
        out[column] = row_max == neg_inf() ? uniform : expf(row[column] - row_max) / row_sum;
    }
}

// Top-k of each row of a materialised probability matrix.
extern "C" __global__ void __launch_bounds__(FUSE_BLOCK_THREADS)
    naive_topk_kernel(const float* __restrict__ probs, int vocab, int k, int* __restrict__ top_idx,
                      float* __restrict__ top_prob) {
    __shared__ CandidateBuffer candidates;
    const float* row = probs + (long long)blockIdx.x * vocab;
    stream_row<false>(row, vocab, k, candidates);
    for (int rank = threadIdx.x; rank < k; rank += FUSE_BLOCK_THREADS) {
        const candidate_key key = candidates.keys[rank];
        const long long out = (long long)blockIdx.x * k + rank;
        top_idx[out] = key_index(key);
        top_prob[out] = key_value(key);
    }
}
