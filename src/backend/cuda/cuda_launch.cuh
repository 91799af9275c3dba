#pragma once
// Chained launches (programmatic dependent launch, sm_90). A decode step is a chain of
// short kernels, each reading what the previous one wrote; with plain launches the GPU
// drains one kernel before it starts the next, and the gap (a few microseconds) is a
// large part of a small kernel's time. A kernel launched with launch_chained may start
// while the previous kernel of the stream is still running: its blocks do work that
// depends on no earlier kernel (address arithmetic, loading weights), then call
// wait_for_prior_kernels(), which returns once every earlier kernel has finished and its
// writes are visible. Every kernel launched this way must call it before it reads
// activations or writes anything. Then it lets the next chained kernel be scheduled onto
// free multiprocessors: that kernel still waits for this one to end, but meanwhile its
// blocks do their own independent work (a GEMV's weight copies).
//
// What earlier kernels wrote is never read through the read-only path (ld.global.nc:
// __ldg, or a `const T* __restrict__` parameter). That path promises the compiler that the
// bytes do not change while the kernel runs, and ptxas then may schedule such a load above
// griddepcontrol.wait; it did (attention_combine_kernel read its partial sums before the
// wait in a variant whose kernels let their successors start before their own wait, see
// NOTES.md). So activations are read through plain pointers or load_prior (a plain load);
// weights, which no kernel writes, keep the read-only path. tests/cuda/cuda_ptx_loads_test.cpp
// checks the PTX of the kernels that read no weights and of the tensor-core GEMVs.
//
// Every kernel of the backend is launched through launch_chained or launch_plain, so that
// it goes where this thread's launch queue points (cuda_step_record.h): the default
// stream, a stream being captured into a graph, or a step record.
#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <type_traits>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_step_record.h"
#include "backend/cuda/cuda_timeline.cuh"

namespace greta::cuda {

__device__ __forceinline__ void wait_for_prior_kernels() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const TimelineStamp stamp = timeline_arrive();  // empty unless GRETA_CUDA_TIMELINE
  asm volatile("griddepcontrol.wait;" ::: "memory");
  timeline_go(stamp);
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Lets the next chained kernel be scheduled before this one has waited for its own
// predecessor: that kernel still waits for this one to end before it reads anything, so
// only its launch moves earlier (its blocks land on free multiprocessors while this one
// and the kernel before it run). For a grid of at most one block a multiprocessor (all
// its blocks resident, so the signal cannot hold back blocks of its own). The streamed
// GEMV does it (H100 tg128 +1.9%); every kernel doing it was slower (NOTES.md).
__device__ __forceinline__ void allow_dependents_early() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// A load of something an earlier kernel wrote (see above): a plain load, which ptxas keeps
// after the wait. (ld.global.cg measured slower: H200 tg128 377-380 against 378-385.)
template <class T>
__device__ __forceinline__ T load_prior(const T* p) {
  return *p;
}

// The bytes of a launch argument in a step record. Types with padding would record
// indeterminate bytes: those (AttentionArgs) record field by field.
template <class T>
void record_arg(StepRecord& r, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>, "launch arguments are plain data");
  static_assert(std::is_scalar_v<T> || std::has_unique_object_representations_v<T>,
                "a launch argument with padding needs its own record_arg");
  r.append(&v, sizeof v);
}

inline void record_arg(StepRecord& r, const NormLink& l) {  // a float: not unique bytes by type, but no padding
  static_assert(sizeof(NormLink) == 6 * sizeof(void*) + sizeof(int) + sizeof(float), "NormLink has no padding");
  r.append(&l, sizeof l);
}

inline void record_arg(StepRecord& r, const AttentionArgs& a) {
  const int64_t kv_f16 = a.kv_f16, f16_operands = a.f16_operands;
  record_arg(r, a.q), record_arg(r, a.k_cache), record_arg(r, a.v_cache), record_arg(r, kv_f16);
  record_arg(r, a.kv_dim), record_arg(r, a.n_ctx), record_arg(r, a.pos), record_arg(r, a.rows), record_arg(r, a.n_heads);
  record_arg(r, a.n_kv_heads), record_arg(r, a.head_dim), record_arg(r, a.kv_shift), record_arg(r, a.out);
  record_arg(r, f16_operands);
}

// cluster_x > 1: the grid's blocks in clusters of cluster_x along x (sm_90), whose blocks
// are resident together and may read each other's shared memory.
template <class... Params, class... Args>
void launch_kernel(bool chained, unsigned cluster_x, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   Args... args) {
  const LaunchQueue& q = launch_queue();
  if (q.record) {
    StepRecord& r = *q.record;
    const void* fn = reinterpret_cast<const void*>(kernel);
    const unsigned dims[7] = {grid.x, grid.y, grid.z, block.x, block.y, block.z, cluster_x};
    const uint64_t flags = chained;
    record_arg(r, fn), record_arg(r, dims), record_arg(r, smem), record_arg(r, flags);
    (record_arg(r, static_cast<Params>(args)), ...);
    return;
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = static_cast<cudaStream_t>(q.stream);
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (chained && chained_launches_enabled()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (cluster_x > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n++].val.clusterDim = {cluster_x, 1, 1};
  }
  cfg.attrs = attr;
  cfg.numAttrs = n;
  check(cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...), chained ? "chained launch" : "launch");
}

// A kernel that may start before the previous one of its stream ends (see above).
template <class... Params, class... Args>
void launch_chained(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Args... args) {
  launch_kernel(true, 1, kernel, grid, block, smem, args...);
}

// launch_chained in clusters of cluster_x blocks along x.
template <class... Params, class... Args>
void launch_chained_cluster(unsigned cluster_x, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                            Args... args) {
  launch_kernel(true, cluster_x, kernel, grid, block, smem, args...);
}

// Blocks of `kernel` resident on the whole GPU at once with `threads` threads and `smem`
// bytes of dynamic shared memory (at least 1). Queried once per kernel and size: launchers
// ask on every step's record pass. Keyed by the kernel itself, since kernels of one
// signature share this function's instance.
template <class... Params>
int resident_blocks(void (*kernel)(Params...), int threads, size_t smem) {
  static std::map<std::tuple<const void*, int, size_t>, int> known;
  const auto key = std::make_tuple(reinterpret_cast<const void*>(kernel), threads, smem);
  const auto it = known.find(key);
  if (it != known.end()) return it->second;
  int dev = 0, sms = 0, per_sm = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem), "occupancy");
  return known[key] = std::max(1, per_sm * sms);
}

// A kernel that starts after the previous one of its stream has ended.
template <class... Params, class... Args>
void launch_plain(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Args... args) {
  launch_kernel(false, 1, kernel, grid, block, smem, args...);
}

}  // namespace greta::cuda
