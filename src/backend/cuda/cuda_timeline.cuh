#pragma once
// Step timeline (CMake option GRETA_CUDA_TIMELINE, off by default; without it the hooks
// below are empty and cost nothing). Every backend kernel calls wait_for_prior_kernels()
// (cuda_launch.cuh); with the option, thread 0 of block 0 takes a slot when it arrives
// and, once the wait returns (every earlier kernel has ended), writes the arrival time,
// the time the wait returned (%globaltimer, ns) and the launch's shape into it. Since each
// kernel's wait returns when the one before has ended, the gap between two consecutive
// "go" times is the earlier kernel's cost on the chain of dependencies, whatever overlaps
// it. The slot is taken before the wait, so its atomic's latency hides behind the wait.
// cuda_timeline.h writes the slots to a file; scripts/timeline_summary.py reads it.
#include <cuda_runtime.h>

#include <cstdint>

namespace greta::cuda {

struct TimelineSlot {
  uint64_t arrive_ns, go_ns;
  uint32_t blocks, threads, smem, unused;
};
constexpr uint32_t kTimelineSlots = 1u << 20;  // a ring: the file keeps the last ones

#if defined(GRETA_CUDA_TIMELINE) && defined(__CUDACC__)
using TimelineSetter = void (*)(TimelineSlot*, uint32_t*);
void register_timeline_setter(TimelineSetter set);  // cuda_timeline.cu

// Each translation unit has its own copies of these device variables (no relocatable
// device code), so each registers a setter that points them at the shared buffer.
namespace {
__device__ TimelineSlot* timeline_slots;
__device__ uint32_t* timeline_count;
void set_timeline(TimelineSlot* slots, uint32_t* count) {
  cudaMemcpyToSymbol(timeline_slots, &slots, sizeof slots);
  cudaMemcpyToSymbol(timeline_count, &count, sizeof count);
}
[[maybe_unused]] const bool timeline_registered = (register_timeline_setter(&set_timeline), true);
}  // namespace

struct TimelineStamp {
  TimelineSlot* slot = nullptr;
  uint64_t arrive_ns = 0;
};

__device__ __forceinline__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ __forceinline__ TimelineStamp timeline_arrive() {
  TimelineStamp s;
  if ((blockIdx.x | blockIdx.y | blockIdx.z | threadIdx.x | threadIdx.y | threadIdx.z) == 0 && timeline_slots) {
    s.arrive_ns = global_ns();
    s.slot = timeline_slots + atomicAdd(timeline_count, 1u) % kTimelineSlots;
  }
  return s;
}

__device__ __forceinline__ void timeline_go(const TimelineStamp& s) {
  if (!s.slot) return;
  uint32_t smem;
  asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(smem));
  *s.slot = TimelineSlot{s.arrive_ns, global_ns(), gridDim.x * gridDim.y * gridDim.z,
                         blockDim.x * blockDim.y * blockDim.z, smem, 0};
}
#elif defined(__CUDACC__)
struct TimelineStamp {};
__device__ __forceinline__ TimelineStamp timeline_arrive() { return {}; }
__device__ __forceinline__ void timeline_go(const TimelineStamp&) {}
#endif

}  // namespace greta::cuda
