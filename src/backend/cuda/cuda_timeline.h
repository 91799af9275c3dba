#pragma once
// Host side of the step timeline (cuda_timeline.cuh): with GRETA_CUDA_TIMELINE the CUDA
// backend starts one when it is created and writes it when it is destroyed, to the file
// named by GRETA_TIMELINE_OUT (default greta_timeline.csv). Without the option both calls
// do nothing.
#include <memory>

namespace greta::cuda {

class Timeline {
 public:
  // Allocates the slots and points every kernel file's hooks at them.
  Timeline();
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;
  // One line a kernel, in the order the waits returned: index, arrive_ns, go_ns, blocks,
  // threads, dynamic shared memory. Waits for the device first.
  void write() const;

 private:
  void* slots_ = nullptr;
  void* count_ = nullptr;
};

}  // namespace greta::cuda
