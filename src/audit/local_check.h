#pragma once
// Local checks: each op recomputed in float64 from the inputs its own run fed it, held
// against a rounding budget that holds by construction for the backend's numeric contract
// (f32 activations, exactly dequantized weights, f32 fused accumulation; see
// docs/audit.md for each formula). A correct op never exceeds its budget; anything above
// it is a bug.
#include <vector>

#include "audit/audit.h"
#include "audit/stage_recorder.h"
#include "model/llama_model.h"

namespace greta::audit {

// K/V rows 0..position of every layer, as the run's cache held them (host copies).
struct CacheSnapshot {
  std::vector<std::vector<float>> k, v;  // [layer][(position+1) * kv_dim]
};

CacheSnapshot snapshot_cache(const LlamaModel& model, const KvCache& cache, int32_t position);

// One matrix product y = W·x of a route with `precision`, against its budget (needs no
// model: W's host bytes are enough).
LocalCheck check_matmul(const Weight& w, const std::vector<float>& x, const std::vector<float>& y,
                        const RoutePrecision& precision);

class LocalChecker {
 public:
  explicit LocalChecker(const LlamaModel& model);
  // Checks one stage of one run whose ops ran with `precision` (the route's operand
  // rounding); `checked` is false when an input was not recorded.
  LocalCheck check(const StageRecorder& run, const CacheSnapshot& cache, int32_t token, StageId stage,
                   const RoutePrecision& precision) const;

 private:
  LocalCheck rmsnorm(const Weight& g, const std::vector<float>& x, const std::vector<float>& y) const;
  LocalCheck rope(const std::vector<float>& x, const std::vector<float>& y, int32_t pos) const;
  LocalCheck attention(const std::vector<float>& q, const CacheSnapshot& c, int layer, int32_t pos,
                       const std::vector<float>& y, const RoutePrecision& pr) const;
  const LlamaModel& model_;
  std::vector<float> freqs_;
};

}  // namespace greta::audit
