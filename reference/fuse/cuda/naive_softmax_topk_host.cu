// The C entry point of the naive baseline, same signature as fused_softmax_topk. It allocates
// the rows x vocab probability buffer itself (stream-ordered), which is what "materialising the
// softmax" means — so it doubles as a submission the grader must catch doing that.
//   nvcc -shared -Xcompiler -fPIC -arch=sm_90 naive_softmax_topk_host.cu -o libnaive_softmax_topk.so

#include <cuda_runtime.h>

#include "naive_softmax_topk.cu"

extern "C" int naive_softmax_topk(const float* logits, int rows, int vocab, int k, int* top_idx, float* top_prob,
                                  cudaStream_t stream) {
    if (rows < 0 || vocab < 1 || k < 1 || k > vocab || k > FUSE_MAX_K) {
        return (int)cudaErrorInvalidValue;
    }
    if (rows == 0) {
        return (int)cudaSuccess;
    }
    if (logits == nullptr || top_idx == nullptr || top_prob == nullptr) {
        return (int)cudaErrorInvalidValue;
    }
    float* probs = nullptr;
    cudaError_t status = cudaMallocAsync((void**)&probs, sizeof(float) * (size_t)rows * (size_t)vocab, stream);
    if (status != cudaSuccess) {
        return (int)status;
    }
    naive_softmax_kernel<<<rows, FUSE_BLOCK_THREADS, 0, stream>>>(logits, vocab, probs);
    naive_topk_kernel<<<rows, FUSE_BLOCK_THREADS, 0, stream>>>(probs, vocab, k, top_idx, top_prob);
    status = cudaGetLastError();
    const cudaError_t freed = cudaFreeAsync(probs, stream);
    return (int)(status != cudaSuccess ? status : freed);
}
