// What one kernel boundary costs on a decode step's chain of dependencies: a CUDA graph of
// 512 kernels, each reading what the one before wrote (ping-pong buffers), replayed; the
// time per kernel, with and without programmatic dependent launch (the attribute that lets
// a kernel start before the previous one ends and wait with griddepcontrol.wait). The
// kernels: empty (one block, or one block a multiprocessor), a one-block copy of a 4096-float
// row (the loads and stores of the add + rmsnorm kernel) and that copy with a block-wide sum
// (its reduction); and, against the chained wait, a handoff through memory (a counter, or a
// flag a block) that does not wait for the previous grid's end. Best of 10 replays.
// Usage: chain_latency_bench (needs an sm_90 device).
#include <cuda_runtime.h>

#include <cstdio>

#include "backend/cuda/cuda_launch.cuh"

namespace {

using greta::cuda::wait_for_prior_kernels;  // the backend's kernels wait and trigger the same way
constexpr int kKernels = 512, kCols = 4096;

__global__ void empty_kernel(const float*, float*) { wait_for_prior_kernels(); }

__global__ void copy_kernel(const float* in, float* out) {
  wait_for_prior_kernels();
  for (int i = static_cast<int>(threadIdx.x); i < kCols; i += static_cast<int>(blockDim.x)) out[i] = in[i] + 1.0f;
}

__global__ void copy_sum_kernel(const float* in, float* out) {
  __shared__ float part[32];
  __shared__ float total;
  wait_for_prior_kernels();
  float v[4], s = 0.0f;
  for (int j = 0; j < 4; ++j) {
    v[j] = in[threadIdx.x + j * 1024];
    s += v[j] * v[j];
  }
  for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, off);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.0f;
    for (int w = 0; w < 32; ++w) t += part[w];
    total = rsqrtf(t / kCols + 1e-5f);
  }
  __syncthreads();
  for (int j = 0; j < 4; ++j) out[threadIdx.x + j * 1024] = v[j] * total;
}

// The handoff without the grid's end: kernel i lets kernel i + 1 be scheduled at once and
// waits, not with griddepcontrol.wait, but until every block of kernel i - 1 has marked
// itself done (after its output is written and fenced); then it reads that output, writes
// its own and marks itself done. Marks: one counter a kernel that every block adds to
// (ready[i]; one thread a block polls it), or with `flags` a flag a block (ready[i][block];
// thread t of every block polls block t's). They are zeroed at the graph's start. What a
// product boundary would cost if each product started on its predecessor's last tile
// instead of its grid's completion.
__global__ void handoff_kernel(const float* in, float* out, unsigned* ready, int index, bool flags) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  if (index > 0 && (flags ? threadIdx.x < gridDim.x : threadIdx.x == 0)) {
    const unsigned* mark = flags ? ready + static_cast<int64_t>(index - 1) * gridDim.x + threadIdx.x : ready + index - 1;
    unsigned seen = 0;
    do {
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(mark) : "memory");
    } while (flags ? seen == 0 : seen < gridDim.x);
  }
  __syncthreads();
  const int i = static_cast<int>((blockIdx.x * 32 + threadIdx.x) % kCols);
  if (threadIdx.x < 32) out[i] = in[i] + 1.0f;
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    if (flags)
      asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(ready + static_cast<int64_t>(index) * gridDim.x + blockIdx.x),
                   "r"(1u)
                   : "memory");
    else
      atomicAdd(ready + index, 1u);
  }
}

bool ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
  return e == cudaSuccess;
}

// Microseconds per kernel of a graph of kKernels launches, kernel i launched by
// launch(cfg, i) with cfg set for `blocks` blocks of `threads` on the capturing stream
// and chained (programmatic dependent launch) where pdl(i); prologue(stream) first.
template <class Prologue, class Pdl, class Launch>
float graph_per_kernel_us(int blocks, int threads, Prologue prologue, Pdl pdl, Launch launch) {
  cudaStream_t s;
  cudaStreamCreate(&s);
  cudaGraph_t graph;
  cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
  prologue(s);
  for (int i = 0; i < kKernels; ++i) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(threads);
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = pdl(i) ? 1 : 0;
    launch(cfg, i);
  }
  if (!ok(cudaStreamEndCapture(s, &graph), "capture")) return -1.0f;
  cudaGraphExec_t exec;
  if (!ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate")) return -1.0f;
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  float best = 1e30f;
  for (int r = 0; r < 11; ++r) {
    cudaEventRecord(t0, s);
    cudaGraphLaunch(exec, s);
    cudaEventRecord(t1, s);
    cudaEventSynchronize(t1);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, t0, t1);
    if (r > 0 && ms < best) best = ms;  // the first replay warms up
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
  return ok(cudaGetLastError(), "replay") ? 1000.0f * best / kKernels : -1.0f;
}

// Microseconds per kernel for a graph of kKernels launches of `kernel` (ping-pong buffers).
float per_kernel_us(void (*kernel)(const float*, float*), int blocks, int threads, bool pdl, float* a, float* b) {
  return graph_per_kernel_us(
      blocks, threads, [](cudaStream_t) {}, [&](int) { return pdl; },
      [&](const cudaLaunchConfig_t& cfg, int i) {
        const float* in = i % 2 ? b : a;
        cudaLaunchKernelEx(&cfg, kernel, in, i % 2 ? a : b);
      });
}

// The same for handoff_kernel, every launch but the first chained, the marks zeroed at the
// graph's start.
float counted_per_kernel_us(int blocks, int threads, float* a, float* b, unsigned* ready, bool flags) {
  return graph_per_kernel_us(
      blocks, threads,
      [&](cudaStream_t s) { cudaMemsetAsync(ready, 0, static_cast<size_t>(kKernels) * blocks * sizeof(unsigned), s); },
      [](int i) { return i > 0; },
      [&](const cudaLaunchConfig_t& cfg, int i) {
        const float* in = i % 2 ? b : a;
        cudaLaunchKernelEx(&cfg, handoff_kernel, in, i % 2 ? a : b, ready, i, flags);
      });
}

}  // namespace

int main() {
  int sms = 0;
  if (!ok(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), "device")) return 1;
  float *a = nullptr, *b = nullptr;
  if (!ok(cudaMalloc(&a, kCols * sizeof(float)), "malloc") || !ok(cudaMalloc(&b, kCols * sizeof(float)), "malloc")) return 1;
  cudaMemset(a, 0, kCols * sizeof(float));
  cudaMemset(b, 0, kCols * sizeof(float));
  struct Case {
    const char* name;
    void (*kernel)(const float*, float*);
    int blocks, threads;
  } cases[] = {{"empty, 1 block of 32", empty_kernel, 1, 32},
               {"empty, 1 block of 1024", empty_kernel, 1, 1024},
               {"empty, 1 block a multiprocessor (288 threads)", empty_kernel, sms, 288},
               {"copy 4096 floats, 1 block of 1024", copy_kernel, 1, 1024},
               {"copy + block sum, 1 block of 1024", copy_sum_kernel, 1, 1024}};
  std::printf("| kernel (chain of %d in one graph) | us a kernel, chained (PDL) | plain |\n|---|---:|---:|\n", kKernels);
  for (const Case& c : cases)
    std::printf("| %s | %.2f | %.2f |\n", c.name, per_kernel_us(c.kernel, c.blocks, c.threads, true, a, b),
                per_kernel_us(c.kernel, c.blocks, c.threads, false, a, b));
  unsigned* ready = nullptr;
  if (!ok(cudaMalloc(&ready, static_cast<size_t>(kKernels) * sms * sizeof(unsigned)), "malloc")) return 1;
  std::printf("| handoff by a counter, not the grid's end: 1 block a multiprocessor (288 threads) | %.2f | |\n",
              counted_per_kernel_us(sms, 288, a, b, ready, false));
  std::printf("| the same, 1 block of 32 | %.2f | |\n", counted_per_kernel_us(1, 32, a, b, ready, false));
  std::printf("| handoff by a flag a block: 1 block a multiprocessor (288 threads) | %.2f | |\n",
              counted_per_kernel_us(sms, 288, a, b, ready, true));
  cudaFree(ready);
  cudaFree(a);
  cudaFree(b);
  return 0;
}
