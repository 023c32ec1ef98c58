// What a fuse submission's .cu needs to build as host C++ (see `emulate_source` in tests/support/mod.rs, which swaps its
// `#include <cuda_runtime.h>` for this header and each `kernel<<<grid, block, smem, stream>>>(…)`
// for `launch_on_cpu([&] { kernel(…); }, grid, block, …)`): the host runtime, and the reference's
// CUDA-on-CPU emulation (one OS thread per CUDA thread, warp votes and shuffles, barriers).

#ifndef FUSE_KERNELS_ON_CPU_H
#define FUSE_KERNELS_ON_CPU_H

#include <cmath>

#include "cuda_runtime_on_cpu.h"
#include "cuda_on_cpu.h"

#define __restrict__ __restrict
#define __host__

// The grid and block sizes as plain integers; shared-memory bytes and the stream are ignored
// (kernels run to completion before this returns).
template <typename Kernel, typename... Ignored>
inline void launch_on_cpu(Kernel kernel, int blocks, int threads, Ignored...) {
    launch_emulated(blocks, threads, kernel);
}

#endif // FUSE_KERNELS_ON_CPU_H
