#pragma once
// A probe that keeps whole rows in memory: every stage of every layer at one position.
#include <map>
#include <tuple>
#include <vector>

#include "trace/probe.h"

namespace greta::audit {

class StageRecorder final : public trace::Probe {
 public:
  explicit StageRecorder(int32_t position) : position_(position) {}
  bool wants(trace::Point, int, int32_t pos) const override { return pos == position_; }
  void record(trace::Point p, int layer, int32_t, const float* row, int64_t n) override {
    rows_[{p, layer}].assign(row, row + n);
  }
  // The recorded row, or nullptr.
  const std::vector<float>* row(trace::Point p, int layer) const {
    auto it = rows_.find({p, layer});
    return it == rows_.end() ? nullptr : &it->second;
  }
  int32_t position() const { return position_; }
  const std::map<std::pair<trace::Point, int>, std::vector<float>>& rows() const { return rows_; }

 private:
  int32_t position_;
  std::map<std::pair<trace::Point, int>, std::vector<float>> rows_;
};

}  // namespace greta::audit
