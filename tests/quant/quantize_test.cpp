// quantize_row -> dequantize_row stays within each format's quantization step.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "quant/quant.h"
#include "quant/quant_formats.h"
#include "quant_test_util.h"

using namespace greta;
using namespace greta::quant;
using namespace greta::quant::test;

namespace {

std::vector<float> round_trip(TensorType type, const std::vector<float>& x) {
  std::vector<uint8_t> q(static_cast<size_t>(row_bytes(type, static_cast<int64_t>(x.size()))));
  quantize_row(type, x.data(), q.data(), static_cast<int64_t>(x.size()));
  std::vector<float> y(x.size());
  dequantize_row(type, q.data(), y.data(), static_cast<int64_t>(y.size()));
  return y;
}

double max_abs_error(const std::vector<float>& a, const std::vector<float>& b, size_t from, size_t to) {
  double m = 0;
  for (size_t i = from; i < to; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

}  // namespace

TEST(Quantize, Dense) {
  std::mt19937 rng(3);
  const auto x = random_floats(rng, 1000, 100.0f);
  EXPECT_EQ(round_trip(TensorType::F32, x), x);
  const auto h = round_trip(TensorType::F16, x);
  const auto b = round_trip(TensorType::BF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(std::fabs(h[i] - x[i]), std::fabs(x[i]) * 0x1p-11f + 0x1p-25f);
    EXPECT_LE(std::fabs(b[i] - x[i]), std::fabs(x[i]) * 0x1p-8f);
  }
}

// For 32-element blocks with one scale: Q8_0 is symmetric (codes -127..127), so the error
// is half a step plus the f16 rounding of the scale. Q4_0 maps the value of largest
// magnitude to code -8, so a value at the opposite extreme clamps to +7: one step.
TEST(Quantize, Q8_0AndQ4_0WithinStep) {
  std::mt19937 rng(5);
  const auto x = random_floats(rng, 32 * 64, 3.0f);
  for (auto [type, levels, steps] : {std::tuple{TensorType::Q8_0, 127.0, 0.5}, std::tuple{TensorType::Q4_0, 8.0, 1.0}}) {
    const auto y = round_trip(type, x);
    for (size_t b = 0; b < x.size() / 32; ++b) {
      double amax = 0;
      for (size_t i = 32 * b; i < 32 * b + 32; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
      const double step = amax / levels;
      EXPECT_LE(max_abs_error(x, y, 32 * b, 32 * b + 32), step * (steps + 0.01)) << type_traits(type).name << " block " << b;
    }
  }
}

// K-quants: within one step of the sub-block (half a step of rounding, the 6-bit
// quantization of the sub-block scale and min adds at most about another half).
TEST(Quantize, KQuantsWithinOneStep) {
  std::mt19937 rng(9);
  auto x = random_floats(rng, 256 * 16, 2.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] += (i / 64 % 3 == 0) ? 1.5f : 0.0f;  // vary offsets
  for (auto [type, qmax] : {std::pair{TensorType::Q4_K, 15.0}, std::pair{TensorType::Q5_K, 31.0}}) {
    const auto y = round_trip(type, x);
    for (size_t s = 0; s < x.size() / 32; ++s) {
      const float* xs = x.data() + 32 * s;
      const double lo = std::min(0.0f, *std::min_element(xs, xs + 32)), hi = *std::max_element(xs, xs + 32);
      const double step = (hi - lo) / qmax;
      EXPECT_LE(max_abs_error(x, y, 32 * s, 32 * s + 32), step) << type_traits(type).name << " sub-block " << s;
    }
  }
  // Q6_K: the value of largest magnitude maps to code 0 (-32 a), so the opposite extreme
  // may clamp to +31: within one stored step |a| = |d * sc|, and that step is at most the
  // ideal amax / 32 plus one unit of d (the 8-bit scale rounds up).
  std::vector<uint8_t> q(static_cast<size_t>(row_bytes(TensorType::Q6_K, static_cast<int64_t>(x.size()))));
  quantize_row(TensorType::Q6_K, x.data(), q.data(), static_cast<int64_t>(x.size()));
  std::vector<float> y6(x.size());
  dequantize_row(TensorType::Q6_K, q.data(), y6.data(), static_cast<int64_t>(x.size()));
  for (size_t s = 0; s < x.size() / 16; ++s) {
    const uint8_t* blk = q.data() + (s / 16) * 210;
    const double d = f16_to_f32(load_u16(blk + 208));
    const double a = std::fabs(d * static_cast<int8_t>(blk[192 + s % 16]));
    double amax = 0;
    for (size_t i = 16 * s; i < 16 * s + 16; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    EXPECT_LE(max_abs_error(x, y6, 16 * s, 16 * s + 16), a * 1.0001) << "q6_K 16-block " << s;
    EXPECT_LE(a, amax / 32 + d) << "q6_K 16-block " << s;
  }
}

TEST(Quantize, UsesTheFullCodeRange) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 32) - 10.0f;
  std::vector<uint8_t> q(144);
  quantize_row(TensorType::Q4_K, x.data(), q.data(), 256);
  int lo = 15, hi = 0;
  for (int e = 0; e < 256; ++e) {
    lo = std::min(lo, k_quant_nibble(q.data() + 16, e));
    hi = std::max(hi, k_quant_nibble(q.data() + 16, e));
  }
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 15);
}

TEST(Quantize, ZerosStayZero) {
  const std::vector<float> x(256, 0.0f);
  for (TensorType type : kAllTypes) EXPECT_EQ(round_trip(type, x), x) << type_traits(type).name;
}
