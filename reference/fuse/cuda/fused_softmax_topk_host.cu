// The C entry point of the fused kernel, built by nvcc into a shared library:
//   nvcc -shared -Xcompiler -fPIC -arch=sm_90 fused_softmax_topk_host.cu -o libfused_softmax_topk.so
// This is exactly the interface the fuse grader asks of submissions.

#include <cuda_runtime.h>

#include "fused_softmax_topk.cu"

// logits: device pointer, [rows, vocab] row-major f32. top_idx, top_prob: device pointers,
// [rows, k], best first (ties by lower index). Returns 0 or a cudaError_t code; k above
// FUSE_MAX_K (256) or outside 1..=vocab is cudaErrorInvalidValue. Asynchronous on `stream`.
extern "C" int fused_softmax_topk(const float* logits, int rows, int vocab, int k, int* top_idx, float* top_prob,
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
    fused_softmax_topk_kernel<<<rows, FUSE_BLOCK_THREADS, 0, stream>>>(logits, vocab, k, top_idx, top_prob);
    return (int)cudaGetLastError();
}
