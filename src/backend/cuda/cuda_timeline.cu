#include "backend/cuda/cuda_timeline.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "backend/cuda/cuda_timeline.cuh"

namespace greta::cuda {

#ifdef GRETA_CUDA_TIMELINE
namespace {
std::vector<TimelineSetter>& setters() {
  static std::vector<TimelineSetter> all;
  return all;
}
}  // namespace

void register_timeline_setter(TimelineSetter set) { setters().push_back(set); }

Timeline::Timeline() {
  if (cudaMalloc(&slots_, sizeof(TimelineSlot) * kTimelineSlots) != cudaSuccess ||
      cudaMalloc(&count_, sizeof(uint32_t)) != cudaSuccess ||
      cudaMemset(slots_, 0, sizeof(TimelineSlot) * kTimelineSlots) != cudaSuccess ||
      cudaMemset(count_, 0, sizeof(uint32_t)) != cudaSuccess)
    throw std::runtime_error("timeline: no device memory for its slots");
  for (TimelineSetter set : setters()) set(static_cast<TimelineSlot*>(slots_), static_cast<uint32_t*>(count_));
}

Timeline::~Timeline() {
  for (TimelineSetter set : setters()) set(nullptr, nullptr);
  cudaFree(slots_);
  cudaFree(count_);
}

void Timeline::write() const {
  uint32_t count = 0;
  std::vector<TimelineSlot> slots(kTimelineSlots);
  if (cudaDeviceSynchronize() != cudaSuccess || cudaMemcpy(&count, count_, sizeof count, cudaMemcpyDeviceToHost) != cudaSuccess ||
      cudaMemcpy(slots.data(), slots_, sizeof(TimelineSlot) * kTimelineSlots, cudaMemcpyDeviceToHost) != cudaSuccess) {
    std::fprintf(stderr, "timeline: could not read the slots back; nothing written\n");
    return;
  }
  const char* env = std::getenv("GRETA_TIMELINE_OUT");
  const char* path = env ? env : "greta_timeline.csv";
  std::FILE* f = std::fopen(path, "w");
  if (!f) {
    std::fprintf(stderr, "timeline: cannot write %s\n", path);
    return;
  }
  std::fprintf(f, "index,arrive_ns,go_ns,blocks,threads,smem\n");
  const uint32_t first = count > kTimelineSlots ? count - kTimelineSlots : 0;
  for (uint32_t i = first; i < count; ++i) {
    const TimelineSlot& s = slots[i % kTimelineSlots];
    std::fprintf(f, "%u,%llu,%llu,%u,%u,%u\n", i, static_cast<unsigned long long>(s.arrive_ns),
                 static_cast<unsigned long long>(s.go_ns), s.blocks, s.threads, s.smem);
  }
  std::fclose(f);
}
#else
Timeline::Timeline() = default;
Timeline::~Timeline() = default;
void Timeline::write() const {}
#endif

}  // namespace greta::cuda
