#pragma once
// A probe that writes the stage trace: one JSON object per recorded row (DESIGN §5),
// optionally each whole row as a raw .f32 file.
#include <cstdio>
#include <string>

#include "trace/probe.h"
#include "trace/row_stats.h"
#include "trace/trace_config.h"

namespace greta::trace {

class StageTracer final : public Probe {
 public:
  // Opens cfg.out (InputError if it cannot be written).
  StageTracer(TraceConfig cfg, int n_layers);
  ~StageTracer() override;

  // The coming forward is a prefill of positions [first, first + n): its last row is
  // `prefill_last`, the others `prefill_row_<pos>`.
  void begin_prefill(int32_t first, int32_t n);
  // The coming forward is decode step `step` (decode0 is the first token after the prompt).
  void begin_decode(int64_t step);

  bool wants(Point point, int layer, int32_t pos) const override;
  void record(Point point, int layer, int32_t pos, const float* row, int64_t n) override;

  int64_t records() const { return records_; }
  const std::string& path() const { return cfg_.out; }

 private:
  std::string phase_of(int32_t pos) const;
  TraceConfig cfg_;
  std::FILE* out_ = nullptr;
  bool in_prefill_ = true;
  int32_t prefill_last_ = -1;
  int64_t decode_step_ = 0;
  int64_t records_ = 0;
};

}  // namespace greta::trace
