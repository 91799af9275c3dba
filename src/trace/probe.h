#pragma once
// The probe: what the model calls after every stage. With no probe attached the model
// does nothing extra (no copy, no synchronisation).
#include <cstdint>

#include "trace/stage_point.h"

namespace greta::trace {

class Probe {
 public:
  virtual ~Probe() = default;
  // Whether to record (point, layer) for the row at position pos. layer is -1 for
  // final_norm and logits.
  virtual bool wants(Point point, int layer, int32_t pos) const = 0;
  // One host copy of a whole wanted row (n values).
  virtual void record(Point point, int layer, int32_t pos, const float* row, int64_t n) = 0;
};

}  // namespace greta::trace
