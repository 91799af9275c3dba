#pragma once
// Seeded relative Gaussian noise for the `noise=S` fault: reproducible for a seed and a
// position, independent of batch composition (so prefill and decode rows get the same).
#include <cstdint>

namespace greta {

void add_relative_noise(float* row, int64_t n, double relative_scale, uint64_t seed, int32_t pos);

}  // namespace greta
