// Just enough of CUDA to run the fuse kernels on the CPU, one OS thread per CUDA thread, so that
// their logic (barriers, warp votes and shuffles, the candidate buffer) is tested on machines
// without a GPU. Not a general emulator: warp intrinsics assume the whole warp calls them
// together (true of these kernels), and blocks run one after another, so `__shared__` can be a
// function-level `static`. Build with g++ -std=c++20 -pthread (and -fsanitize=thread to check
// that every shared-memory access is ordered by a barrier).

#ifndef FUSE_CUDA_ON_CPU_H
#define FUSE_CUDA_ON_CPU_H

#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct uint3_emulated {
    unsigned int x, y, z;
};
struct float4 {
    float x, y, z, w;
};

static thread_local uint3_emulated threadIdx;
static uint3_emulated blockIdx;

template <typename To, typename From>
inline To bit_cast_emulated(From from) {
    To to;
    std::memcpy(&to, &from, sizeof(To));
    return to;
}
inline float __int_as_float(int bits) { return bit_cast_emulated<float>(bits); }
inline float __uint_as_float(unsigned int bits) { return bit_cast_emulated<float>(bits); }
inline unsigned int __float_as_uint(float value) { return bit_cast_emulated<unsigned int>(value); }
inline int __popc(unsigned int bits) { return __builtin_popcount(bits); }
inline int __ffs(unsigned int bits) { return __builtin_ffs((int)bits); }
inline float4 __ldg(const float4* address) { return *address; }
inline int atomicAdd(int* address, int value) { return __atomic_fetch_add(address, value, __ATOMIC_RELAXED); }

// One exchange slot per lane and a barrier per warp; one vote slot per thread and a barrier per
// block. Each collective writes, waits, reads, waits (so the next collective cannot overwrite a
// slot still being read).
struct EmulatedWarp {
    std::barrier<> barrier{32};
    unsigned long long slot[32];
};
struct EmulatedBlock {
    std::barrier<> barrier;
    std::vector<int> vote;
    std::vector<std::unique_ptr<EmulatedWarp>> warps;
    explicit EmulatedBlock(int threads) : barrier(threads), vote(threads) {
        for (int w = 0; w < threads / 32; ++w) {
            warps.push_back(std::make_unique<EmulatedWarp>());
        }
    }
};
static EmulatedBlock* emulated_block = nullptr;

inline void __syncthreads() { emulated_block->barrier.arrive_and_wait(); }

inline int __syncthreads_or(int predicate) {
    emulated_block->vote[threadIdx.x] = predicate != 0;
    emulated_block->barrier.arrive_and_wait();
    int any = 0;
    for (int vote : emulated_block->vote) {
        any |= vote;
    }
    emulated_block->barrier.arrive_and_wait();
    return any;
}

inline void __syncwarp(unsigned int = 0xffffffffu) {
    emulated_block->warps[threadIdx.x >> 5]->barrier.arrive_and_wait();
}

template <typename T>
inline T warp_exchange(T value, int source_lane) {
    EmulatedWarp& warp = *emulated_block->warps[threadIdx.x >> 5];
    const int lane = threadIdx.x & 31;
    unsigned long long raw = 0;
    std::memcpy(&raw, &value, sizeof(T));
    warp.slot[lane] = raw;
    warp.barrier.arrive_and_wait();
    raw = warp.slot[source_lane & 31];
    warp.barrier.arrive_and_wait();
    T result;
    std::memcpy(&result, &raw, sizeof(T));
    return result;
}

template <typename T>
inline T __shfl_sync(unsigned int, T value, int source_lane) { return warp_exchange(value, source_lane); }

template <typename T>
inline T __shfl_xor_sync(unsigned int, T value, int lane_mask) {
    return warp_exchange(value, (int)(threadIdx.x & 31) ^ lane_mask);
}

inline unsigned int __ballot_sync(unsigned int, int predicate) {
    EmulatedWarp& warp = *emulated_block->warps[threadIdx.x >> 5];
    const int lane = threadIdx.x & 31;
    warp.slot[lane] = predicate != 0;
    warp.barrier.arrive_and_wait();
    unsigned int ballot = 0;
    for (int other = 0; other < 32; ++other) {
        ballot |= (unsigned int)warp.slot[other] << other;
    }
    warp.barrier.arrive_and_wait();
    return ballot;
}

inline int __any_sync(unsigned int mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }

// Runs `kernel` over `blocks` blocks of `threads` threads, one block at a time.
inline void launch_emulated(int blocks, int threads, const std::function<void()>& kernel) {
    for (int block = 0; block < blocks; ++block) {
        EmulatedBlock state(threads);
        emulated_block = &state;
        blockIdx = {(unsigned int)block, 0, 0};
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([t, &kernel] {
                threadIdx = {(unsigned int)t, 0, 0};
                kernel();
            });
        }
        for (std::thread& thread : pool) {
            thread.join();
        }
        emulated_block = nullptr;
    }
}

#endif // FUSE_CUDA_ON_CPU_H
