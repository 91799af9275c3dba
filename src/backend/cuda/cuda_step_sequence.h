#pragma once
// When StepGraphs may launch a step before its record (cuda_step_graphs.h): the step must be
// the last replayed one again, one position on, writing the same state (the KV cache), with
// no device memory allocated or freed since, and the last record must have said that one
// position on launches the same. Plain C++ (no CUDA), so the rule is tested without a GPU.
#include <cstdint>

#include "model/backend.h"

namespace greta::cuda {

class StepSequence {
 public:
  // A record pass begins; ops it records may then call next_position_differs().
  void record_started() { next_same_ = true; }
  void next_position_differs() { next_same_ = false; }
  // Device memory was allocated or freed: kept graphs may point at freed memory.
  void memory_changed() { ++memory_generation_; }
  // A step ran from a graph (`in` its inputs), or it did not (run directly, or failed).
  void replayed(const StepInputs& in) {
    last_valid_ = in.rows == 1;
    last_state_ = in.state;
    last_pos_ = in.rows == 1 ? in.pos[0] : 0;
    last_generation_ = memory_generation_;
  }
  void not_replayed() { last_valid_ = false; }

  // Whether the step of `in` may be launched as the last replayed step's graph before its
  // record is made.
  bool may_launch_early(const StepInputs& in) const {
    return last_valid_ && next_same_ && in.rows == 1 && in.state != nullptr && in.state == last_state_ &&
           memory_generation_ == last_generation_ && in.pos[0] == last_pos_ + 1;
  }

 private:
  bool next_same_ = false, last_valid_ = false;
  const void* last_state_ = nullptr;
  int32_t last_pos_ = 0;
  uint64_t memory_generation_ = 0, last_generation_ = 0;
};

}  // namespace greta::cuda
