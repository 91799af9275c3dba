#include "model/noise.h"

#include <cmath>

namespace greta {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double uniform01(uint64_t& state) { return (static_cast<double>(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53; }

}  // namespace

void add_relative_noise(float* row, int64_t n, double relative_scale, uint64_t seed, int32_t pos) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(row[i]) * row[i];
  const double sigma = relative_scale * std::sqrt(ss / static_cast<double>(n));
  uint64_t state = seed * 0x100000001B3ull ^ static_cast<uint64_t>(static_cast<uint32_t>(pos));
  for (int64_t i = 0; i < n; ++i) {
    // Box-Muller: one normal deviate per pair of uniforms keeps the stream simple.
    const double g = std::sqrt(-2.0 * std::log(uniform01(state))) * std::cos(2.0 * M_PI * uniform01(state));
    row[i] = static_cast<float>(row[i] + sigma * g);
  }
}

}  // namespace greta
