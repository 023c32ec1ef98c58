// Device building blocks of fused softmax + top-k, shared by the fused kernel and the naive
// baseline. Self-contained on purpose: no #include, so NVRTC compiles it without the CUDA
// runtime headers (which NVRTC does not ship).
//
// One thread block owns one row. Every thread streams a strided, coalesced slice of the row
// (float4 loads) and keeps
//   - its online-softmax state (m, l): l = sum exp(x - m) over what it has seen, rescaled by
//     exp(m_old - m_new) whenever its maximum grows;
//   - nothing else: candidates for the top-k go straight to a block-wide buffer in shared memory,
//     admitted only if they beat the current k-th best key (the threshold), so after the first
//     tile almost every logit costs one comparison.
// When the buffer fills, the block sorts it (bitonic, in shared memory), keeps the best k and
// raises the threshold. At the end the (m, l) states are merged with warp shuffles and then
// across warps through shared memory, and only k indices + k probabilities leave the block.

#ifndef FUSE_SOFTMAX_TOPK_DEVICE_CUH
#define FUSE_SOFTMAX_TOPK_DEVICE_CUH

#ifndef FUSE_BLOCK_THREADS
#define FUSE_BLOCK_THREADS 256 // threads per row; a multiple of 32
#endif
#define FUSE_WARPS (FUSE_BLOCK_THREADS / 32)
#define FUSE_MAX_K 256                 // largest k supported; the host wrapper refuses more
#define FUSE_CANDIDATE_CAPACITY 1024   // shared-memory candidate slots (a power of two >= 4 * FUSE_MAX_K)
#define FUSE_VECTORS_PER_THREAD 2      // float4 loads in flight per thread per tile
#define FUSE_SLOTS (4 * FUSE_VECTORS_PER_THREAD)
#define FUSE_FULL_WARP 0xffffffffu

typedef unsigned long long candidate_key;

static __device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }
static __device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
static __device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

// ---------------------------------------------------------------------------------------------
// Candidate keys: one 64-bit integer whose order is the top-k order.
// High 32 bits: the float mapped to an unsigned integer of the same order (−0 folded into +0,
// so that equal logits tie). Low 32 bits: ~index, so that among equal values the lower index is
// the larger key. Every real logit, −inf included, gives a key > 0; 0 means "no threshold yet".
// ---------------------------------------------------------------------------------------------

static __device__ __forceinline__ unsigned int ordered_bits(float x) {
    const unsigned int bits = __float_as_uint(x == 0.0f ? 0.0f : x);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

static __device__ __forceinline__ float from_ordered_bits(unsigned int ordered) {
    return __uint_as_float((ordered & 0x80000000u) ? (ordered & 0x7fffffffu) : ~ordered);
}

static __device__ __forceinline__ candidate_key make_key(float value, int index) {
    return ((candidate_key)ordered_bits(value) << 32) | (candidate_key)(0xffffffffu - (unsigned int)index);
}

static __device__ __forceinline__ float key_value(candidate_key key) {
    return from_ordered_bits((unsigned int)(key >> 32));
}

static __device__ __forceinline__ int key_index(candidate_key key) {
    return (int)(0xffffffffu - (unsigned int)(key & 0xffffffffu));
}

// ---------------------------------------------------------------------------------------------
// Online softmax state (m, l), l = sum exp(x - m). Merging rescales each side DOWN to the common
// maximum: l = l_a * exp(m_a - m) + l_b * exp(m_b - m). A state that has only seen −inf is
// (−inf, 0) and must not produce exp(−inf − (−inf)) = NaN.
// ---------------------------------------------------------------------------------------------

struct SoftmaxState {
    float max;
    float sum;
};

static __device__ __forceinline__ SoftmaxState softmax_empty() { return SoftmaxState{neg_inf(), 0.0f}; }

static __device__ __forceinline__ SoftmaxState softmax_merge(SoftmaxState a, SoftmaxState b) {
    const float max = fmaxf(a.max, b.max);
    if (max == neg_inf()) {
        return softmax_empty();
    }
    return SoftmaxState{max, a.sum * expf(a.max - max) + b.sum * expf(b.max - max)};
}

// exp(d) for d = x - max <= 0 in the streaming loop: one multiply and the hardware ex2 (about
// 4 instructions against about 10 for expf). Subtracting first keeps it accurate for logits of
// magnitude 1e4: the product's rounding costs |d| * 6e-8 relative, negligible for the terms that
// matter to l. The k probabilities at the end use the accurate expf.
static __device__ __forceinline__ float exp_of_difference(float d) { return exp2f(d * 1.4426950408889634f); }

// Adds a thread's tile: one rescale per tile instead of one per element.
static __device__ __forceinline__ SoftmaxState softmax_add_tile(SoftmaxState state, const float (&values)[FUSE_SLOTS]) {
    float tile_max = values[0];
#pragma unroll
    for (int slot = 1; slot < FUSE_SLOTS; ++slot) {
        tile_max = fmaxf(tile_max, values[slot]);
    }
    const float max = fmaxf(state.max, tile_max);
    if (max == neg_inf()) {
        return state;
    }
    float sum = state.sum * exp_of_difference(state.max - max);
#pragma unroll
    for (int slot = 0; slot < FUSE_SLOTS; ++slot) {
        sum += exp_of_difference(values[slot] - max);
    }
    return SoftmaxState{max, sum};
}

// Butterfly merge across the 32 lanes; every lane ends with the warp's state.
static __device__ __forceinline__ SoftmaxState softmax_warp_merge(SoftmaxState state) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const SoftmaxState other{__shfl_xor_sync(FUSE_FULL_WARP, state.max, offset),
                                 __shfl_xor_sync(FUSE_FULL_WARP, state.sum, offset)};
        state = softmax_merge(state, other);
    }
    return state;
}

// Warp shuffles, then one value per warp through shared memory. All threads call it; all get the
// row's state.
static __device__ SoftmaxState softmax_block_merge(SoftmaxState state) {
    __shared__ SoftmaxState per_warp[FUSE_WARPS];
    __shared__ SoftmaxState whole_block;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    state = softmax_warp_merge(state);
    if (lane == 0) {
        per_warp[warp] = state;
    }
    __syncthreads();
    if (warp == 0) {
        SoftmaxState partial = lane < FUSE_WARPS ? per_warp[lane] : softmax_empty();
        partial = softmax_warp_merge(partial);
        if (lane == 0) {
            whole_block = partial;
        }
    }
    __syncthreads();
    return whole_block;
}

// ---------------------------------------------------------------------------------------------
// Block-wide candidate buffer in shared memory.
// ---------------------------------------------------------------------------------------------

struct CandidateBuffer {
    candidate_key keys[FUSE_CANDIDATE_CAPACITY];
    int count;               // slots claimed; may pass the capacity, refused pushes are retried
    candidate_key threshold; // k-th best key kept so far, or 0 while fewer than k are known
};

// Slots used for a given k: room for 3k more candidates between two sorts, and never fewer than
// 512 so that small k does not sort too often. A power of two for the bitonic sort.
static __device__ __forceinline__ int candidate_capacity(int k) {
    int padded_k = 1;
    while (padded_k < k) {
        padded_k <<= 1;
    }
    return imin(FUSE_CANDIDATE_CAPACITY, imax(512, 4 * padded_k));
}

static __device__ __forceinline__ void candidates_init(CandidateBuffer& buffer) {
    if (threadIdx.x == 0) {
        buffer.count = 0;
        buffer.threshold = 0;
    }
    __syncthreads();
}

// Sorts keys[0, n) in descending order, n a power of two; all threads call it, ends synchronised.
// Pair p (thread p mod FUSE_BLOCK_THREADS) compares keys lo and lo + stride. At strides <= 32
// the 32 pairs of a warp lie in one block of 64 keys that no other warp touches, so between two
// such stages the warp only waits for its own lanes (__syncwarp); a block barrier is needed only
// around the stages of larger stride — 6 of the 45 stages of a 512-key sort.
static __device__ void bitonic_sort_descending(candidate_key* keys, int n) {
    for (int size = 2; size <= n; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int pair = threadIdx.x; pair < (n >> 1); pair += FUSE_BLOCK_THREADS) {
                const int lo = 2 * pair - (pair & (stride - 1));
                const int hi = lo + stride;
                const bool descending = (lo & size) == 0;
                const candidate_key a = keys[lo];
                const candidate_key b = keys[hi];
                if ((a < b) == descending) {
                    keys[lo] = b;
                    keys[hi] = a;
                }
            }
            const int next_stride = stride > 1 ? stride >> 1 : (2 * size <= n ? size : 0);
            if (stride <= 32 && next_stride != 0 && next_stride <= 32) {
                __syncwarp();
            } else {
                __syncthreads();
            }
        }
    }
}

// Sorts what the buffer holds, keeps the best k in keys[0, k) (best first) and raises the
// threshold to the k-th best key. All threads call it, after a barrier that follows the pushes.
static __device__ void candidates_keep_best(CandidateBuffer& buffer, int capacity, int k) {
    const int stored = imin(buffer.count, capacity);
    int padded = 1;
    while (padded < stored) {
        padded <<= 1;
    }
    for (int slot = stored + threadIdx.x; slot < padded; slot += FUSE_BLOCK_THREADS) {
        buffer.keys[slot] = 0; // sorts last
    }
    __syncthreads();
    bitonic_sort_descending(buffer.keys, padded);
    if (threadIdx.x == 0) {
        const int kept = imin(stored, k);
        buffer.count = kept;
        buffer.threshold = kept == k ? buffer.keys[k - 1] : 0;
    }
    __syncthreads();
}

// Offers each thread's tile to the buffer. A logit that beats the threshold claims a slot (one
// shared atomic per warp and slot: ballot, popc, shuffle of the base). When the buffer is full the
// block keeps the best k and retries the refused logits against the raised threshold.
// All threads call it; it ends with a barrier.
static __device__ void candidates_offer_tile(CandidateBuffer& buffer, const float (&values)[FUSE_SLOTS],
                                      const int (&indices)[FUSE_SLOTS], unsigned int pending, int capacity, int k) {
    const int lane = threadIdx.x & 31;
    const unsigned int lanes_below = (1u << lane) - 1u;
    while (true) {
        const candidate_key threshold = buffer.threshold;
        // Cheap filter on the value alone; the exact key comparison (ties by index) follows.
        const float threshold_value = threshold == 0 ? neg_inf() : key_value(threshold);
#pragma unroll
        for (int slot = 0; slot < FUSE_SLOTS; ++slot) {
            if (!(values[slot] >= threshold_value)) {
                pending &= ~(1u << slot);
            }
        }
        if (__any_sync(FUSE_FULL_WARP, pending != 0)) {
#pragma unroll
            for (int slot = 0; slot < FUSE_SLOTS; ++slot) {
                const candidate_key key = make_key(values[slot], indices[slot]);
                const bool wants = ((pending >> slot) & 1u) != 0 && key > threshold;
                if (!wants) {
                    pending &= ~(1u << slot);
                }
                const unsigned int ballot = __ballot_sync(FUSE_FULL_WARP, wants);
                if (ballot == 0) {
                    continue;
                }
                const int leader = __ffs(ballot) - 1;
                int base = 0;
                if (lane == leader) {
                    base = atomicAdd(&buffer.count, __popc(ballot));
                }
                base = __shfl_sync(FUSE_FULL_WARP, base, leader);
                if (wants) {
                    const int position = base + __popc(ballot & lanes_below);
                    if (position < capacity) {
                        buffer.keys[position] = key;
                        pending &= ~(1u << slot);
                    }
                }
            }
        }
        if (!__syncthreads_or(pending != 0)) {
            return;
        }
        candidates_keep_best(buffer, capacity, k);
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming one row: the whole row is read once. A row of odd length starts at any 4-byte
// boundary, so it is split into a scalar head (up to the next 16-byte boundary), a float4 body and
// a scalar tail; head and tail (at most 3 + 3 values) form one extra tile. Values outside the row
// are −inf with no pending bit: they add nothing to (m, l) and are never offered.
// WITH_SOFTMAX = false streams a row of probabilities for the naive baseline's top-k pass.
// ---------------------------------------------------------------------------------------------

template <bool WITH_SOFTMAX>
static __device__ SoftmaxState stream_row(const float* __restrict__ row, int vocab, int k, CandidateBuffer& buffer) {
    const int capacity = candidate_capacity(k);
    SoftmaxState state = softmax_empty();
    candidates_init(buffer);

    const int misalignment = (int)(((unsigned long long)row >> 2) & 3ull); // in floats
    const int head = imin(vocab, (4 - misalignment) & 3);
    const int body_vectors = (vocab - head) >> 2;
    const int tail_start = head + 4 * body_vectors;
    const int tail = vocab - tail_start;

    {
        float values[FUSE_SLOTS];
        int indices[FUSE_SLOTS];
#pragma unroll
        for (int slot = 0; slot < FUSE_SLOTS; ++slot) {
            values[slot] = neg_inf();
            indices[slot] = 0;
        }
        unsigned int pending = 0;
        const int t = threadIdx.x;
        if (t < head + tail) {
            const int column = t < head ? t : tail_start + (t - head);
            values[0] = row[column];
            indices[0] = column;
            pending = 1u;
        }
        if (WITH_SOFTMAX) {
            state = softmax_add_tile(state, values);
        }
        candidates_offer_tile(buffer, values, indices, pending, capacity, k);
    }

    const float4* __restrict__ body = reinterpret_cast<const float4*>(row + head);
    for (int first = 0; first < body_vectors; first += FUSE_BLOCK_THREADS * FUSE_VECTORS_PER_THREAD) {
        float values[FUSE_SLOTS];
        int indices[FUSE_SLOTS];
        unsigned int pending = 0;
#pragma unroll
        for (int v = 0; v < FUSE_VECTORS_PER_THREAD; ++v) {
            const int vector = first + v * FUSE_BLOCK_THREADS + threadIdx.x;
            float4 q;
            q.x = q.y = q.z = q.w = neg_inf();
            if (vector < body_vectors) {
                q = __ldg(body + vector);
                pending |= 0xfu << (4 * v);
            }
            const int column = head + 4 * vector;
            values[4 * v + 0] = q.x;
            values[4 * v + 1] = q.y;
            values[4 * v + 2] = q.z;
            values[4 * v + 3] = q.w;
#pragma unroll
            for (int lane_in_vector = 0; lane_in_vector < 4; ++lane_in_vector) {
                indices[4 * v + lane_in_vector] = column + lane_in_vector;
            }
        }
        if (WITH_SOFTMAX) {
            state = softmax_add_tile(state, values);
        }
        candidates_offer_tile(buffer, values, indices, pending, capacity, k);
    }

    candidates_keep_best(buffer, capacity, k); // keys[0, k): the row's top-k, best first
    return state;
}

#endif // FUSE_SOFTMAX_TOPK_DEVICE_CUH
