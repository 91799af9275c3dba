// What one kernel boundary costs on a decode step's chain of dependencies: a CUDA graph of
// 512 kernels, each reading what the one before wrote (ping-pong buffers), replayed; the
// time per kernel, with and without programmatic dependent launch (the attribute that lets
// a kernel start before the previous one ends and wait with griddepcontrol.wait). The
// kernels: empty (one block, or one block a multiprocessor), a one-block copy of a 4096-float
// row (the loads and stores of the add + rmsnorm kernel) and that copy with a block-wide sum
// (its reduction). Best of 10 replays. Usage: chain_latency_bench (needs an sm_90 device).
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

bool ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
  return e == cudaSuccess;
}

// Microseconds per kernel for a graph of kKernels launches of `kernel`.
float per_kernel_us(void (*kernel)(const float*, float*), int blocks, int threads, bool pdl, float* a, float* b) {
  cudaStream_t s;
  cudaStreamCreate(&s);
  cudaGraph_t graph;
  cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
  for (int i = 0; i < kKernels; ++i) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(threads);
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = pdl ? 1 : 0;
    const float* in = i % 2 ? b : a;
    float* out = i % 2 ? a : b;
    cudaLaunchKernelEx(&cfg, kernel, in, out);
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
  cudaFree(a);
  cudaFree(b);
  return 0;
}
