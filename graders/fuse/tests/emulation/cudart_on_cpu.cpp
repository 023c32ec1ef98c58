// The host-memory CUDA runtime of cuda_runtime_on_cpu.h. Work runs synchronously on the calling
// thread (kernels on CPU threads it joins), so streams and events only keep time.

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "cuda_runtime_on_cpu.h"

struct CpuEvent {
    std::chrono::steady_clock::time_point at;
};

static cudaError_t allocate(void** pointer, size_t bytes) {
    *pointer = std::malloc(bytes == 0 ? 1 : bytes);
    return *pointer != nullptr ? cudaSuccess : cudaErrorMemoryAllocation;
}

extern "C" {
const char* cudaGetErrorName(cudaError_t error) {
    switch (error) {
    case cudaSuccess:
        return "cudaSuccess";
    case cudaErrorInvalidValue:
        return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
        return "cudaErrorMemoryAllocation";
    }
    return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t error) { return cudaGetErrorName(error); }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    *free_bytes = 0;
    *total_bytes = 0;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void** pointer, size_t bytes) { return allocate(pointer, bytes); }
cudaError_t cudaMallocAsync(void** pointer, size_t bytes, cudaStream_t) { return allocate(pointer, bytes); }
cudaError_t cudaMallocAsync_ptsz(void** pointer, size_t bytes, cudaStream_t) { return allocate(pointer, bytes); }
cudaError_t cudaMallocFromPoolAsync(void** pointer, size_t bytes, cudaMemPool_t, cudaStream_t) {
    return allocate(pointer, bytes);
}
cudaError_t cudaMallocFromPoolAsync_ptsz(void** pointer, size_t bytes, cudaMemPool_t, cudaStream_t) {
    return allocate(pointer, bytes);
}
cudaError_t cudaMallocManaged(void** pointer, size_t bytes, unsigned int) { return allocate(pointer, bytes); }
cudaError_t cudaMallocPitch(void** pointer, size_t* pitch, size_t width, size_t height) {
    *pitch = width;
    return allocate(pointer, width * height);
}
cudaError_t cudaMallocHost(void** pointer, size_t bytes) { return allocate(pointer, bytes); }
cudaError_t cudaHostAlloc(void** pointer, size_t bytes, unsigned int) { return allocate(pointer, bytes); }
cudaError_t cudaFree(void* pointer) {
    std::free(pointer);
    return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* pointer, cudaStream_t) { return cudaFree(pointer); }
cudaError_t cudaFreeAsync_ptsz(void* pointer, cudaStream_t) { return cudaFree(pointer); }
cudaError_t cudaFreeHost(void* pointer) { return cudaFree(pointer); }

cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, enum cudaMemcpyKind) {
    std::memmove(destination, source, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemset(void* destination, int value, size_t bytes) {
    std::memset(destination, value, bytes);
    return cudaSuccess;
}
// The stream is synchronous here: asynchronous copies and fills are done when they return.
cudaError_t cudaMemcpyAsync(void* destination, const void* source, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t) {
    return cudaMemcpy(destination, source, bytes, kind);
}
cudaError_t cudaMemsetAsync(void* destination, int value, size_t bytes, cudaStream_t) {
    return cudaMemset(destination, value, bytes);
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
    *stream = nullptr;
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* event) {
    *event = new CpuEvent();
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
    event->at = std::chrono::steady_clock::now();
    return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
    *ms = std::chrono::duration<float, std::milli>(stop->at - start->at).count();
    return cudaSuccess;
}
}
