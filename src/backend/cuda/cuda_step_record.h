#pragma once
// Where the launchers queue their work, and the record of a step that is only being
// looked at. Plain C++ (streams travel as void*), so the backend's header stays free of
// CUDA types.
//
// By default every launch goes to the legacy default stream. CudaBackend::run_step points
// this thread's queue elsewhere for a while: at a StepRecord, which keeps the bytes of
// each launch (kernel, grid, block, shared memory, every argument) and launches nothing,
// or at the stream being captured into a CUDA graph. Two steps with equal records queue
// the same work, so a graph captured from one replays the other.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace greta::cuda {

struct StepRecord {
  std::vector<uint8_t> buf;  // the record is buf[0, size); the buffer only grows
  size_t size = 0;
  bool replayable = true;  // false once the step did something a graph cannot hold
  void clear() {
    size = 0;
    replayable = true;
  }
  // A memcpy into a buffer kept between steps: vector::insert per argument cost 30 µs a
  // step of 387 launches, this 5 (measured on the host alone).
  void append(const void* p, size_t n) {
    if (size + n > buf.size()) buf.resize(std::max(2 * buf.size(), size + n));
    std::memcpy(buf.data() + size, p, n);
    size += n;
  }
};

struct LaunchQueue {
  void* stream = nullptr;         // cudaStream_t; nullptr: the legacy default stream
  StepRecord* record = nullptr;   // when set, launches are recorded instead of queued
};

// This thread's queue.
LaunchQueue& launch_queue();

// Points this thread's queue at `q` until the scope ends.
class QueueScope {
 public:
  explicit QueueScope(LaunchQueue q) : saved_(launch_queue()) { launch_queue() = q; }
  ~QueueScope() { launch_queue() = saved_; }
  QueueScope(const QueueScope&) = delete;
  QueueScope& operator=(const QueueScope&) = delete;

 private:
  LaunchQueue saved_;
};

// For work that is not a recordable launch (a host copy, a memset): true, marking the
// step as not replayable, when a step is being recorded, so the caller skips it.
inline bool skip_while_recording() {
  StepRecord* r = launch_queue().record;
  if (r) r->replayable = false;
  return r != nullptr;
}

// Whether chained kernels get the programmatic-dependent-launch attribute (default yes;
// GRETA_CUDA_PDL=0 turns it off, for measuring what it brings).
bool chained_launches_enabled();

}  // namespace greta::cuda
