#pragma once
// Random rows of every supported type, and the ISAs this CPU can run.
#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "greta/tensor_type.h"
#include "quant/quant.h"

namespace greta::quant::test {

inline std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (static_cast<int>(isa) <= static_cast<int>(best_isa())) out.push_back(isa);
  return out;
}

// Restores the best ISA when a test ends, whatever it selected.
struct IsaGuard {
  ~IsaGuard() { set_active_isa(best_isa()); }
};

inline std::vector<float> random_floats(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// Random bytes for a row of `type`, with every f16 scale field a finite random value
// (so no NaN weights), for n_rows rows of n elements.
inline std::vector<uint8_t> random_rows(std::mt19937& rng, TensorType type, int64_t n_rows, int64_t n) {
  const int64_t rb = row_bytes(type, n);
  std::vector<uint8_t> data(static_cast<size_t>(rb * n_rows));
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.1f, 0.1f);
  // Mostly normal scales, but also zero, subnormal and negative ones, which take
  // different conversion paths in the kernels.
  auto put_f16 = [&](uint8_t* p, float v) {
    uint16_t h = f32_to_f16(v);
    switch (rng() % 16) {
      case 0: h = 0x0000; break;
      case 1: h = static_cast<uint16_t>(rng() % 0x400); break;            // subnormal
      case 2: h = static_cast<uint16_t>(0x8000 | (rng() % 0x400)); break;  // negative subnormal
      default: break;
    }
    std::memcpy(p, &h, 2);
  };
  const auto& t = type_traits(type);
  const int64_t n_blocks = n_rows * (n / t.block_size);
  for (int64_t i = 0; i < n_blocks; ++i) {
    uint8_t* b = data.data() + i * t.block_bytes;
    switch (type) {
      case TensorType::F32: {
        const float v = scale(rng) * 10;
        std::memcpy(b, &v, 4);
        break;
      }
      case TensorType::F16: put_f16(b, scale(rng) * 10); break;
      case TensorType::BF16: {
        const uint16_t h = f32_to_bf16(scale(rng) * 10);
        std::memcpy(b, &h, 2);
        break;
      }
      case TensorType::Q8_0:
      case TensorType::Q4_0: put_f16(b, scale(rng)); break;
      case TensorType::Q4_K:
      case TensorType::Q5_K:
        put_f16(b, scale(rng));
        put_f16(b + 2, scale(rng));
        break;
      case TensorType::Q6_K: put_f16(b + 208, scale(rng)); break;
    }
  }
  return data;
}

inline uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

constexpr TensorType kAllTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                                    TensorType::Q4_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

// Row lengths to test for a type: every tail for element types, several blocks otherwise.
inline std::vector<int64_t> test_lengths(TensorType type) {
  std::vector<int64_t> out;
  const int64_t bs = type_traits(type).block_size;
  if (bs == 1) {
    for (int64_t n = 1; n <= 67; ++n) out.push_back(n);
    out.push_back(256);
    out.push_back(1000);
  } else {
    for (int64_t k = 1; k <= 4; ++k) out.push_back(bs * k);
    out.push_back(bs * 16);
  }
  return out;
}

}  // namespace greta::quant::test
