#pragma once
// Statistics of one whole activation row, as written to the stage trace (DESIGN §5).
#include <array>
#include <cstdint>
#include <string>

namespace greta::trace {

// FNV-1a 64 over the raw bytes of n float32 values: equal hashes mean bit-equal rows.
uint64_t fnv1a64(const float* values, int64_t n);

struct RowStats {
  int64_t n = 0;
  uint64_t hash = 0;
  double min = 0, max = 0, mean = 0, rms = 0, abs_max = 0;
  int64_t nan = 0, inf = 0;
  std::array<float, 8> sample{};  // the first 8 values (fewer if n < 8)
  // Logits rows only:
  int32_t top1 = -1, top2 = -1;
  double top1_logit = 0, top2_logit = 0, gap = 0;
};

RowStats row_stats(const float* values, int64_t n, bool with_top2);

std::string hash_hex(uint64_t h);

}  // namespace greta::trace
