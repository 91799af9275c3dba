#pragma once
// Chained launches (programmatic dependent launch, sm_90). A decode step is a chain of
// short kernels, each reading what the previous one wrote; with plain launches the GPU
// drains one kernel before it starts the next, and the gap (a few microseconds) is a
// large part of a small kernel's time. A kernel launched with launch_chained may start
// while the previous kernel of the stream is still running: its blocks do work that
// depends on no earlier kernel (address arithmetic, loading weights), then call
// wait_for_prior_kernels(), which returns once every earlier kernel has finished and its
// writes are visible. Every kernel launched this way must call it before it reads
// activations or writes anything. allow_next_kernel() lets the next chained kernel be
// scheduled onto free multiprocessors before this one finishes.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {

__device__ __forceinline__ void wait_for_prior_kernels() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_next_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

template <class... Params, class... Args>
void launch_chained(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = nullptr;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  check(cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...), "chained launch");
}

}  // namespace greta::cuda
