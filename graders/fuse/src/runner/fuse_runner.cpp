// fuse-runner: the sandboxed process that runs a fuse library. The judge compiles it with nvcc
// (`-x cu`), starts it inside the judge-runner sandbox with the GPU device nodes, and reads back
// what it wrote. A submission's code runs here, never in the judge; and a process that loads a
// submission loads nothing else: the naive baseline and the reference kernel are timed by a second
// runner process that never sees the submission (see src/runner.rs).
//
//   fuse-runner JOB OUT_DIR
//
// OUT_DIR is created if missing. JOB, one directive per line (whitespace-separated, no spaces inside fields):
//   library NAME PATH SYMBOL                   dlopen PATH, look up SYMBOL (the C entry point)
//   check CASE LIBRARY ROWS VOCAB K LOGITS     run once on the f32 logits in file LOGITS
//   serve                                      answer timing requests on fd 3, replies on fd 4 (below)
// OUT_DIR/results.jsonl gets one JSON object per check, flushed as soon as it is known (a crash half
// way leaves the earlier results); OUT_DIR/CASE.idx and CASE.prob get the [rows, k] outputs (i32, f32).
//
// Timing requests (one line each; the judge sends the next only after the reply to the last):
//   shape ROWS VOCAB K FLUSH_BYTES   allocate the buffers                  -> "ready"
//   rep NONCE LIBRARY SEED SCALE     generate fresh logits on the device from SEED (generated_logit),
//                                    flush L2 (write FLUSH_BYTES), time one call with CUDA events
//        -> "rep NONCE STATUS STATUS_NAME SYNC SYNC_NAME MS ALLOC_CALLS ALLOC_PEAK BYTES\n" + BYTES
//           bytes: the [rows, k] indices (i32) then probabilities (f32), or none after a fault
//   copy NONCE                       flush L2, time a device-to-device copy of the logits -> "copy NONCE MS"
// The times in these replies are the process's claims: the judge times each request itself too.
// Exit codes: 0 done; 2 the runner's own part failed (no usable driver, unreadable job); 3 a
// kernel fault left the context unusable (reported first); 4 a library did not load (reported).
//
// Allocation counting. The submission library is linked with -Wl,--wrap=cudaMalloc,... so its own
// calls to the allocation functions land in the __wrap_ functions below (exported from this
// executable with --export-dynamic), which count the bytes while the library's call is in
// flight and forward to the real runtime; timing replies report them. Allocations made any other
// way (driver API, static __device__ arrays) are not counted; the judge's device-memory hold
// (src/memory.rs) limits those, and these counters too, from outside this process.
//
// Built with -DFUSE_RUNNER_ON_CPU against a host-memory stand-in of the runtime, the same file runs
// on machines without a GPU, which is how the judge's tests check this plumbing.

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#ifdef FUSE_RUNNER_ON_CPU
#include "cuda_runtime_on_cpu.h"
#else
#include <cuda_runtime.h>
#endif

typedef int (*EntryPoint)(const float*, int, int, int, int*, float*, cudaStream_t);

// ------------------------------------------------------------------------------------------------
// Allocation counting
// ------------------------------------------------------------------------------------------------

struct AllocationCount {
    long long calls = 0;
    unsigned long long bytes = 0;       // requested in all
    unsigned long long largest = 0;     // one request
    unsigned long long outstanding = 0; // not yet freed
    unsigned long long peak = 0;        // most outstanding at once
};

static bool counting = false;
static AllocationCount counted;
static std::unordered_map<void*, unsigned long long> live_allocations;

static void count_allocation(cudaError_t status, void* pointer, unsigned long long bytes) {
    if (!counting || status != cudaSuccess) {
        return;
    }
    counted.calls += 1;
    counted.bytes += bytes;
    counted.largest = std::max(counted.largest, bytes);
    counted.outstanding += bytes;
    counted.peak = std::max(counted.peak, counted.outstanding);
    live_allocations[pointer] = bytes;
}

static void count_free(void* pointer) {
    const auto found = live_allocations.find(pointer);
    if (found != live_allocations.end()) {
        counted.outstanding -= std::min(counted.outstanding, found->second);
        live_allocations.erase(found);
    }
}

// The per-thread-default-stream variants a submission gets by defining
// CUDA_API_PER_THREAD_DEFAULT_STREAM before including the runtime header.
extern "C" cudaError_t cudaMallocAsync_ptsz(void** pointer, size_t bytes, cudaStream_t stream);
extern "C" cudaError_t cudaFreeAsync_ptsz(void* pointer, cudaStream_t stream);
extern "C" cudaError_t cudaMallocFromPoolAsync_ptsz(void** pointer, size_t bytes, cudaMemPool_t pool,
                                                    cudaStream_t stream);

extern "C" {
cudaError_t __wrap_cudaMalloc(void** pointer, size_t bytes) {
    const cudaError_t status = cudaMalloc(pointer, bytes);
    count_allocation(status, *pointer, bytes);
    return status;
}
cudaError_t __wrap_cudaMallocAsync(void** pointer, size_t bytes, cudaStream_t stream) {
    const cudaError_t status = cudaMallocAsync(pointer, bytes, stream);
    count_allocation(status, *pointer, bytes);
    return status;
}
cudaError_t __wrap_cudaMallocAsync_ptsz(void** pointer, size_t bytes, cudaStream_t stream) {
    const cudaError_t status = cudaMallocAsync_ptsz(pointer, bytes, stream);
    count_allocation(status, *pointer, bytes);
    return status;
}
cudaError_t __wrap_cudaMallocFromPoolAsync(void** pointer, size_t bytes, cudaMemPool_t pool, cudaStream_t stream) {
    const cudaError_t status = cudaMallocFromPoolAsync(pointer, bytes, pool, stream);
    count_allocation(status, *pointer, bytes);
    return status;
}
cudaError_t __wrap_cudaMallocFromPoolAsync_ptsz(void** pointer, size_t bytes, cudaMemPool_t pool,
                                                cudaStream_t stream) {
    const cudaError_t status = cudaMallocFromPoolAsync_ptsz(pointer, bytes, pool, stream);
    count_allocation(status, *pointer, bytes);
    return status;
}
cudaError_t __wrap_cudaMallocManaged(void** pointer, size_t bytes, unsigned int flags) {
    const cudaError_t status = cudaMallocManaged(pointer, bytes, flags);
    count_allocation(status, *pointer, bytes);
    return status;
}
cudaError_t __wrap_cudaMallocPitch(void** pointer, size_t* pitch, size_t width, size_t height) {
    const cudaError_t status = cudaMallocPitch(pointer, pitch, width, height);
    count_allocation(status, *pointer, status == cudaSuccess ? (unsigned long long)*pitch * height : 0);
    return status;
}
// Pinned host memory is readable and writable by kernels (zero-copy): it could hold the softmax too.
cudaError_t __wrap_cudaMallocHost(void** pointer, size_t bytes) {
    const cudaError_t status = cudaMallocHost(pointer, bytes);
    count_allocation(status, *pointer, bytes);
    return status;
}
cudaError_t __wrap_cudaHostAlloc(void** pointer, size_t bytes, unsigned int flags) {
    const cudaError_t status = cudaHostAlloc(pointer, bytes, flags);
    count_allocation(status, *pointer, bytes);
    return status;
}
cudaError_t __wrap_cudaFree(void* pointer) {
    count_free(pointer);
    return cudaFree(pointer);
}
cudaError_t __wrap_cudaFreeAsync(void* pointer, cudaStream_t stream) {
    count_free(pointer);
    return cudaFreeAsync(pointer, stream);
}
cudaError_t __wrap_cudaFreeAsync_ptsz(void* pointer, cudaStream_t stream) {
    count_free(pointer);
    return cudaFreeAsync_ptsz(pointer, stream);
}
cudaError_t __wrap_cudaFreeHost(void* pointer) {
    count_free(pointer);
    return cudaFreeHost(pointer);
}
}

// ------------------------------------------------------------------------------------------------
// Results
// ------------------------------------------------------------------------------------------------

static std::FILE* results = nullptr;

static void emit(const std::string& line) {
    std::fputs(line.c_str(), results);
    std::fputc('\n', results);
    std::fflush(results);
}

[[noreturn]] static void die(const std::string& message) {
    std::fprintf(stderr, "fuse-runner: %s\n", message.c_str());
    std::exit(2);
}

static std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if ((unsigned char)c < 0x20) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out + "\"";
}

static std::string status_json(const char* key, int status) {
    std::ostringstream out;
    out << "\"" << key << "\":" << status << ",\"" << key
        << "_name\":" << quoted(cudaGetErrorName((cudaError_t)status));
    return out.str();
}

static void check_runtime(cudaError_t status, const char* what) {
    if (status != cudaSuccess) {
        die(std::string(what) + ": " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
    }
}

// ------------------------------------------------------------------------------------------------
// Device buffers and calls
// ------------------------------------------------------------------------------------------------

struct Problem {
    int rows = 0, vocab = 0, k = 0;
    float* logits = nullptr;
    int* top_idx = nullptr;
    float* top_prob = nullptr;

    size_t logit_count() const { return (size_t)rows * (size_t)vocab; }
    size_t output_count() const { return (size_t)rows * (size_t)k; }
};

// Allocates the buffers of a problem and uploads `host_logits` (none: left for generate_logits).
static Problem upload(const std::vector<float>& host_logits, int rows, int vocab, int k) {
    Problem problem;
    problem.rows = rows;
    problem.vocab = vocab;
    problem.k = k;
    check_runtime(cudaMalloc((void**)&problem.logits, std::max<size_t>(1, problem.logit_count()) * sizeof(float)),
                  "allocating the logits");
    check_runtime(cudaMalloc((void**)&problem.top_idx, std::max<size_t>(1, problem.output_count()) * sizeof(int)),
                  "allocating top_idx");
    check_runtime(cudaMalloc((void**)&problem.top_prob, std::max<size_t>(1, problem.output_count()) * sizeof(float)),
                  "allocating top_prob");
    if (!host_logits.empty()) {
        check_runtime(cudaMemcpy(problem.logits, host_logits.data(), problem.logit_count() * sizeof(float),
                                 cudaMemcpyHostToDevice),
                      "uploading the logits");
    }
    return problem;
}

static void release(Problem& problem) {
    cudaFree(problem.logits);
    cudaFree(problem.top_idx);
    cudaFree(problem.top_prob);
}

// Outputs start as index -1 and probability NaN: a library that writes nothing is seen as such.
static void poison_outputs(const Problem& problem) {
    check_runtime(cudaMemset(problem.top_idx, 0xff, problem.output_count() * sizeof(int)), "clearing top_idx");
    check_runtime(cudaMemset(problem.top_prob, 0xff, problem.output_count() * sizeof(float)), "clearing top_prob");
    check_runtime(cudaDeviceSynchronize(), "clearing the outputs");
}

struct CallResult {
    int status = 0;      // what the entry point returned
    int sync_status = 0; // what the stream reported after it (a fault inside the kernel)
    double ms = 0.0;
    AllocationCount allocations;
};

static CallResult call(EntryPoint entry, const Problem& problem, cudaStream_t stream, cudaEvent_t start,
                       cudaEvent_t stop) {
    CallResult result;
    counted = AllocationCount();
    live_allocations.clear();
    check_runtime(cudaEventRecord(start, stream), "recording the start event");
    counting = true;
    result.status = entry(problem.logits, problem.rows, problem.vocab, problem.k, problem.top_idx, problem.top_prob,
                          stream);
    counting = false;
    result.allocations = counted;
    cudaEventRecord(stop, stream);
    result.sync_status = (int)cudaStreamSynchronize(stream);
    float ms = 0.0f;
    if (result.sync_status == 0 && cudaEventElapsedTime(&ms, start, stop) == cudaSuccess) {
        result.ms = ms;
    }
    return result;
}

// A fault inside a kernel leaves the context unusable: report it and stop.
static void stop_on_sticky_error(const CallResult& result) {
    if (result.sync_status != 0) {
        std::exit(3);
    }
}

static void write_outputs(const std::string& out_dir, const std::string& name, const Problem& problem) {
    std::vector<int> idx(problem.output_count());
    std::vector<float> prob(problem.output_count());
    check_runtime(cudaMemcpy(idx.data(), problem.top_idx, idx.size() * sizeof(int), cudaMemcpyDeviceToHost),
                  "downloading top_idx");
    check_runtime(cudaMemcpy(prob.data(), problem.top_prob, prob.size() * sizeof(float), cudaMemcpyDeviceToHost),
                  "downloading top_prob");
    std::ofstream(out_dir + "/" + name + ".idx", std::ios::binary)
        .write(reinterpret_cast<const char*>(idx.data()), (std::streamsize)(idx.size() * sizeof(int)));
    std::ofstream(out_dir + "/" + name + ".prob", std::ios::binary)
        .write(reinterpret_cast<const char*>(prob.data()), (std::streamsize)(prob.size() * sizeof(float)));
}

// ------------------------------------------------------------------------------------------------
// Inputs
// ------------------------------------------------------------------------------------------------

// SplitMix64 of a counter: value i of a generation from SEED mixes SEED + (i + 1)·golden, so the
// judge's Rust side (cases::generated_logits) computes the same numbers row by row, and the device
// fills the buffer in parallel; the large timing inputs never travel through files.
#ifdef FUSE_RUNNER_ON_CPU
#define FUSE_GENERATOR
#else
#define FUSE_GENERATOR __device__
#endif
FUSE_GENERATOR static float generated_logit(unsigned long long seed, unsigned long long index, float scale) {
    unsigned long long z = seed + (index + 1ull) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float unit = (float)(z >> 40) * (1.0f / 16777216.0f); // 24 random bits in [0, 1)
    return (2.0f * unit - 1.0f) * scale;
}

#ifndef FUSE_RUNNER_ON_CPU
__global__ void generate_logits_kernel(float* logits, size_t count, unsigned long long seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        logits[i] = generated_logit(seed, i, scale);
    }
}
#endif

// Fills `count` logits on the device, asynchronously on `stream`.
static void generate_logits(float* logits, size_t count, unsigned long long seed, float scale, cudaStream_t stream) {
#ifdef FUSE_RUNNER_ON_CPU
    (void)stream;
    for (size_t i = 0; i < count; ++i) {
        logits[i] = generated_logit(seed, i, scale);
    }
#else
    generate_logits_kernel<<<1024, 256, 0, stream>>>(logits, count, seed, scale);
    check_runtime(cudaGetLastError(), "generating the logits");
#endif
}

static std::vector<float> read_logits(const std::string& path, size_t count) {
    std::vector<float> logits(count);
    std::ifstream file(path, std::ios::binary);
    file.read(reinterpret_cast<char*>(logits.data()), (std::streamsize)(count * sizeof(float)));
    if (!file || file.peek() != EOF) {
        die(path + ": expected exactly " + std::to_string(count) + " f32 logits");
    }
    return logits;
}

// ------------------------------------------------------------------------------------------------
// Directives
// ------------------------------------------------------------------------------------------------

struct Runner {
    std::string out_dir;
    std::map<std::string, EntryPoint> libraries;
    cudaStream_t stream = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;

    EntryPoint library(const std::string& name) const {
        const auto found = libraries.find(name);
        if (found == libraries.end()) {
            die("no library named " + name + " was loaded");
        }
        return found->second;
    }

    void load(const std::string& name, const std::string& path, const std::string& symbol) {
        void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            emit("{\"kind\":\"load\",\"library\":" + quoted(name) + ",\"error\":" + quoted(dlerror()) + "}");
            std::exit(4);
        }
        void* entry = dlsym(handle, symbol.c_str());
        if (entry == nullptr) {
            emit("{\"kind\":\"load\",\"library\":" + quoted(name) + ",\"error\":" +
                 quoted(symbol + " is not exported by the library") + "}");
            std::exit(4);
        }
        libraries[name] = reinterpret_cast<EntryPoint>(entry);
    }

    void check(const std::string& name, const std::string& library_name, int rows, int vocab, int k,
               const std::string& logits_path) {
        const EntryPoint entry = library(library_name);
        Problem problem = upload(read_logits(logits_path, (size_t)rows * (size_t)vocab), rows, vocab, k);
        poison_outputs(problem);
        const CallResult result = call(entry, problem, stream, start, stop);
        std::ostringstream line;
        line << "{\"kind\":\"check\",\"case\":" << quoted(name) << ",\"library\":" << quoted(library_name) << ","
             << status_json("status", result.status) << "," << status_json("sync_status", result.sync_status)
             << "}";
        if (result.sync_status == 0) {
            write_outputs(out_dir, name, problem);
        }
        emit(line.str());
        stop_on_sticky_error(result);
        release(problem);
    }

    // The judge's timing requests, one at a time, until it closes the pipe (see the top of the file).
    void serve() {
        std::FILE* requests = fdopen(3, "r");
        if (requests == nullptr) {
            die("no request pipe on fd 3");
        }
        Problem problem;
        size_t flush_bytes = 0;
        void* flush = nullptr;
        float* copy = nullptr;
        char text[512];
        while (std::fgets(text, sizeof text, requests) != nullptr) {
            std::istringstream fields(text);
            std::string request;
            fields >> request;
            if (request == "shape") {
                int rows = 0, vocab = 0, k = 0;
                if (!(fields >> rows >> vocab >> k >> flush_bytes) || rows <= 0 || vocab <= 0 || k <= 0) {
                    die(std::string("bad request: ") + text);
                }
                if (problem.logits != nullptr) {
                    release(problem);
                    cudaFree(flush);
                    cudaFree(copy);
                    copy = nullptr;
                }
                problem = upload(std::vector<float>(), rows, vocab, k);
                check_runtime(cudaMalloc(&flush, std::max<size_t>(1, flush_bytes)), "allocating the L2 flush buffer");
                reply("ready\n");
            } else if (request == "rep") {
                std::string nonce, library_name;
                unsigned long long seed = 0;
                float scale = 0.0f;
                if (!(fields >> nonce >> library_name >> seed >> scale) || problem.logits == nullptr) {
                    die(std::string("bad request: ") + text);
                }
                const EntryPoint entry = library(library_name);
                generate_logits(problem.logits, problem.logit_count(), seed, scale, stream);
                poison_outputs(problem);
                check_runtime(cudaMemsetAsync(flush, (int)(seed & 0xff), flush_bytes, stream), "flushing L2");
                const CallResult result = call(entry, problem, stream, start, stop);
                std::vector<char> outputs;
                if (result.sync_status == 0) {
                    outputs.resize(problem.output_count() * (sizeof(int) + sizeof(float)));
                    check_runtime(cudaMemcpy(outputs.data(), problem.top_idx, problem.output_count() * sizeof(int),
                                             cudaMemcpyDeviceToHost),
                                  "downloading top_idx");
                    check_runtime(cudaMemcpy(outputs.data() + problem.output_count() * sizeof(int), problem.top_prob,
                                             problem.output_count() * sizeof(float), cudaMemcpyDeviceToHost),
                                  "downloading top_prob");
                }
                std::ostringstream line;
                line << "rep " << nonce << " " << result.status << " "
                     << cudaGetErrorName((cudaError_t)result.status) << " " << result.sync_status << " "
                     << cudaGetErrorName((cudaError_t)result.sync_status) << " " << result.ms << " "
                     << result.allocations.calls << " " << result.allocations.peak << " " << outputs.size() << "\n";
                reply(line.str() + std::string(outputs.begin(), outputs.end()));
                stop_on_sticky_error(result);
            } else if (request == "copy") {
                std::string nonce;
                if (!(fields >> nonce) || problem.logits == nullptr) {
                    die(std::string("bad request: ") + text);
                }
                const size_t bytes = problem.logit_count() * sizeof(float);
                if (copy == nullptr) {
                    check_runtime(cudaMalloc((void**)&copy, bytes), "allocating the copy");
                }
                check_runtime(cudaMemsetAsync(flush, 0, flush_bytes, stream), "flushing L2");
                check_runtime(cudaEventRecord(start, stream), "recording the start event");
                check_runtime(cudaMemcpyAsync(copy, problem.logits, bytes, cudaMemcpyDeviceToDevice, stream),
                              "copying the logits");
                check_runtime(cudaEventRecord(stop, stream), "recording the stop event");
                check_runtime(cudaStreamSynchronize(stream), "copying the logits");
                float ms = 0.0f;
                check_runtime(cudaEventElapsedTime(&ms, start, stop), "timing the copy");
                std::ostringstream line;
                line << "copy " << nonce << " " << ms << "\n";
                reply(line.str());
            } else {
                die(std::string("unknown request: ") + text);
            }
        }
    }

    // Writes all of `bytes` to fd 4; a judge that went away ends the runner.
    static void reply(const std::string& bytes) {
        size_t written = 0;
        while (written < bytes.size()) {
            const ssize_t n = write(4, bytes.data() + written, bytes.size() - written);
            if (n <= 0) {
                die("the judge closed the reply pipe");
            }
            written += (size_t)n;
        }
    }
};

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: fuse-runner JOB OUT_DIR\n");
        return 2;
    }
    Runner runner;
    runner.out_dir = argv[2];
    mkdir(argv[2], 0700); // an existing folder is fine; a failure shows when results.jsonl is opened
    results = std::fopen((runner.out_dir + "/results.jsonl").c_str(), "w");
    if (results == nullptr) {
        die(runner.out_dir + "/results.jsonl cannot be written");
    }
    check_runtime(cudaStreamCreate(&runner.stream), "creating a stream");
    check_runtime(cudaEventCreate(&runner.start), "creating an event");
    check_runtime(cudaEventCreate(&runner.stop), "creating an event");

    std::ifstream job(argv[1]);
    if (!job) {
        die(std::string(argv[1]) + " cannot be read");
    }
    std::string text;
    while (std::getline(job, text)) {
        std::istringstream fields(text);
        std::string directive;
        if (!(fields >> directive)) {
            continue;
        }
        if (directive == "library") {
            std::string name, path, symbol;
            if (!(fields >> name >> path >> symbol)) {
                die("bad directive: " + text);
            }
            runner.load(name, path, symbol);
        } else if (directive == "check") {
            std::string name, library, logits;
            int rows = 0, vocab = 0, k = 0;
            if (!(fields >> name >> library >> rows >> vocab >> k >> logits)) {
                die("bad directive: " + text);
            }
            runner.check(name, library, rows, vocab, k, logits);
        } else if (directive == "serve") {
            runner.serve();
        } else {
            die("unknown directive: " + directive);
        }
    }
    std::fclose(results);
    return 0;
}
