#pragma once
// Which streamed product follows each one-token product of a decode step, so that its
// launch can prefetch the next one's first weights into L2 (cuda_ops.h, NextProduct). The
// products a decode step launches are the same, in the same order, step after step: the
// i-th launch of a step is followed by the i+1-th of the step before, and the last by that
// step's first (the next step begins with the product the last one began with). Plain C++
// (no CUDA), so the rule is tested without a GPU.
#include <cstddef>
#include <vector>

#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {

class ProductSequence {
 public:
  void step_started() { current_.clear(); }
  // The step ended; a step that launched nothing leaves the last one's order.
  void step_ended() {
    if (!current_.empty()) last_.swap(current_);
  }
  // A product is about to be launched: the product expected after it, as the last step ran
  // (nullptr before any step has ended).
  const NextProduct* launching(const NextProduct& p) {
    const size_t i = current_.size();
    current_.push_back(p);
    return last_.empty() ? nullptr : &last_[(i + 1) % last_.size()];
  }
  // The launch named last did not happen after all (its launcher declined it).
  void not_launched() {
    if (!current_.empty()) current_.pop_back();
  }

 private:
  std::vector<NextProduct> current_, last_;
};

}  // namespace greta::cuda
