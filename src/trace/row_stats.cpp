#include "trace/row_stats.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace greta::trace {

uint64_t fnv1a64(const float* values, int64_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(values);
  for (int64_t i = 0; i < n * 4; ++i) {
    h ^= bytes[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

RowStats row_stats(const float* v, int64_t n, bool with_top2) {
  RowStats s;
  s.n = n;
  s.hash = fnv1a64(v, n);
  s.min = std::numeric_limits<double>::infinity();
  s.max = -s.min;
  double sum = 0, sq = 0;
  int64_t finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = v[i];
    if (std::isnan(x)) { ++s.nan; continue; }
    if (std::isinf(x)) { ++s.inf; continue; }
    ++finite;
    sum += x;
    sq += x * x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
    s.abs_max = std::max(s.abs_max, std::fabs(x));
  }
  if (finite) {
    s.mean = sum / finite;
    s.rms = std::sqrt(sq / finite);
  } else {
    s.min = s.max = 0;
  }
  for (int64_t i = 0; i < std::min<int64_t>(8, n); ++i) s.sample[i] = v[i];
  if (with_top2 && n > 0) {
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(v[i])) continue;
      if (s.top1 < 0 || v[i] > v[s.top1]) {
        s.top2 = s.top1;
        s.top1 = static_cast<int32_t>(i);
      } else if (s.top2 < 0 || v[i] > v[s.top2]) {
        s.top2 = static_cast<int32_t>(i);
      }
    }
    if (s.top1 >= 0) s.top1_logit = v[s.top1];
    if (s.top2 >= 0) s.top2_logit = v[s.top2];
    s.gap = s.top2 >= 0 ? s.top1_logit - s.top2_logit : 0;
  }
  return s;
}

std::string hash_hex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace greta::trace
