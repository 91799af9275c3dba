#pragma once
// Collects the one-token products of a decode step, and the row ops between them, into
// decode chains (cuda_ops.h): CudaBackend hands them here instead of launching them while
// a step runs under run_step, and anything else it is asked to do first launches what is
// queued (flush), so every op still runs in the order it was called.
#include <functional>
#include <optional>
#include <vector>

#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {

class ChainQueue {
 public:
  // counters: two zeroed words of device memory for the chains' grid barriers; scratch(n):
  // device memory for n floats (silu of a gate), valid until the next call.
  ChainQueue(unsigned* counters, std::function<float*(int64_t)> scratch)
      : counters_(counters), scratch_(std::move(scratch)) {}

  // Queues the products of one matmuls call (groups of one format each, all reading x);
  // a row op queued before and writing x becomes their input.
  void products(const ChainProduct* groups, int n, const float* x);
  // Queue a row op for the next products (run on its own if none take it).
  void add_rmsnorm(const float* a, const float* b, float* sum, const float* gain, float eps, int64_t cols, float* out);
  void swiglu(const float* gate, const float* up, int64_t n, float* out);
  // Launches what is queued: the chain, then a row op no product took.
  void flush();
  // Chains launched (or recorded) so far, for tests.
  int64_t launches() const { return launches_; }

 private:
  void launch_products();
  void launch_row_op();
  void queue_row_op(const ChainInput& in);
  unsigned* counters_;
  std::function<float*(int64_t)> scratch_;
  std::vector<ChainProduct> queued_;
  std::optional<ChainInput> row_op_;  // not yet consumed by a product
  int64_t launches_ = 0;
};

}  // namespace greta::cuda
