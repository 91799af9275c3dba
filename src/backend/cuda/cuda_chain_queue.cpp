#include "backend/cuda/cuda_chain_queue.h"

#include <algorithm>

namespace greta::cuda {

void ChainQueue::products(const ChainProduct* groups, int n, const float* x) {
  ChainInput in;
  in.x = x;
  if (row_op_ && row_op_->out == x) {
    in = *row_op_;
    for (int i = 0; i < n; ++i)
      if (!decode_chain_input_supported(in, groups[i].k)) in = ChainInput{ChainInput::Plain, x};
    if (in.kind == ChainInput::Plain) flush();  // the row op runs on its own first
  } else if (row_op_) {
    flush();  // a row op whose output nobody reads here still runs before these products
  }
  for (int i = 0; i < n; ++i) {
    ChainProduct p = groups[i];
    p.input = in;
    queued_.push_back(p);
    if (!decode_chain_fits(queued_.data(), static_cast<int>(queued_.size()))) {
      queued_.pop_back();
      launch_products();
      queued_.push_back(p);  // starts the next chain, its input computed again there
    }
  }
  if (in.kind != ChainInput::Plain) row_op_.reset();
}

void ChainQueue::queue_row_op(const ChainInput& in) {
  if (row_op_) flush();
  row_op_ = in;
}

void ChainQueue::add_rmsnorm(const float* a, const float* b, float* sum, const float* gain, float eps, int64_t cols,
                             float* out) {
  queue_row_op(
      {.kind = ChainInput::AddNorm, .x = a, .x2 = b, .sum_out = sum, .gain = gain, .out = out, .cols = cols, .eps = eps});
}

void ChainQueue::swiglu(const float* gate, const float* up, int64_t n, float* out) {
  queue_row_op({.kind = ChainInput::Swiglu, .x = gate, .x2 = up, .out = out, .cols = n});
}

void ChainQueue::launch_products() {
  if (queued_.empty()) return;
  int64_t silu_floats = 0;
  for (const ChainProduct& p : queued_)
    if (p.input.kind == ChainInput::Swiglu) silu_floats = std::max(silu_floats, p.input.cols);
  float* silu = silu_floats > 0 ? scratch_(silu_floats) : nullptr;
  launch_decode_chain(queued_.data(), static_cast<int>(queued_.size()), counters_, silu, silu_floats);
  queued_.clear();
  ++launches_;
}

void ChainQueue::launch_row_op() {
  if (!row_op_) return;
  const ChainInput in = *row_op_;
  row_op_.reset();
  if (in.kind == ChainInput::AddNorm)
    launch_add_rmsnorm(in.x, in.x2, in.sum_out, in.gain, in.eps, 1, in.cols, in.out);
  else
    launch_swiglu(in.x, in.x2, in.cols, in.out);
}

void ChainQueue::flush() {
  launch_products();
  launch_row_op();
}

}  // namespace greta::cuda
