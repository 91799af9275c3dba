// The matrix-product budget of routes whose f16 weights are rounded from rounded scale
// terms: a Q4_K product emulated on the CPU as such a route computes it (f16 weights from
// dequantize_row_f16 times f16-rounded activations, f32 accumulation) stays within the
// budget with RoutePrecision::matmul_weight_from_terms, and exceeds the budget without it
// when the weights cancel (dmin·m ≈ q·d·sc, so T is far above |w|).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "audit/local_check.h"
#include "quant/quant.h"
#include "quant/quant_formats.h"

namespace greta::test {
namespace {

using quant::f16_to_f32;
using quant::f32_to_f16;
using quant::f64_to_f16;

// Six-bit scales and mins of the eight sub-blocks, packed as scale_min_k4 reads them.
void pack_scales(const int sc[8], const int m[8], uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
    s[j + 4] = static_cast<uint8_t>(m[j] | (m[j + 4] >> 4) << 6);
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
  }
}

// Q4_K rows with d of full f16 precision (so d·sc rounds), dmin = rn(4d(1 + ε)), |ε| ≤ 2%,
// and m = 2·sc: with `code` 8 every weight is −8·d·sc·ε, a few percent of T = 16·d·sc.
// Other codes give ordinary weights.
std::vector<uint8_t> q4_k_rows(std::mt19937& rng, int64_t rows, int64_t cols, bool cancel) {
  std::vector<uint8_t> data(static_cast<size_t>(row_bytes(TensorType::Q4_K, cols) * rows));
  std::uniform_real_distribution<double> d_dist(0.01, 0.05), eps(-0.02, 0.02);
  for (size_t i = 0; i < data.size() / sizeof(quant::BlockQ4_K); ++i) {
    quant::BlockQ4_K b{};
    const double d = f16_to_f32(f64_to_f16(d_dist(rng)));
    b.d = f64_to_f16(d);
    b.dmin = f64_to_f16(4 * d * (1 + eps(rng)));
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = 16 + static_cast<int>(rng() % 16);
      m[j] = 2 * sc[j];
    }
    pack_scales(sc, m, b.scales);
    for (auto& q : b.qs) q = cancel ? 0x88 : static_cast<uint8_t>(rng());
    std::memcpy(data.data() + i * sizeof(b), &b, sizeof(b));
  }
  return data;
}

// y = W·x as the reduced-precision route computes it: f16 weights from their scale terms,
// f16 activations, products exact in f32, f32 sums.
std::vector<float> emulate(const Weight& w, const std::vector<float>& x) {
  std::vector<float> y(w.rows);
  std::vector<uint16_t> w16(w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    quant::dequantize_row_f16(w.type, static_cast<const uint8_t*>(w.host) + r * w.row_bytes(), w16.data(), w.cols);
    float acc = 0;
    for (int64_t k = 0; k < w.cols; ++k) acc += f16_to_f32(w16[k]) * f16_to_f32(f32_to_f16(x[k]));
    y[r] = acc;
  }
  return y;
}

// x_k = ±1 with the sign of the weight error of row 0 (f16 weight minus the f32 one), so
// the errors of row 0 add up: the worst case the budget has to hold for.
std::vector<float> aligned_with_errors(const Weight& w) {
  std::vector<uint16_t> w16(w.cols);
  std::vector<float> w32(w.cols), x(w.cols);
  quant::dequantize_row_f16(w.type, w.host, w16.data(), w.cols);
  quant::dequantize_row(w.type, w.host, w32.data(), w.cols);
  for (int64_t k = 0; k < w.cols; ++k) x[k] = f16_to_f32(w16[k]) >= w32[k] ? 1.0f : -1.0f;
  return x;
}

RoutePrecision f16_route(bool from_terms) {
  RoutePrecision p;
  p.matmul_operand_unit = 0x1.0p-11;
  p.matmul_weight_from_terms = from_terms;
  return p;
}

}  // namespace

TEST(MatmulBudget, CancellingWeightsNeedTheScaleTermBudget) {
  std::mt19937 rng(7);
  const int64_t rows = 8, cols = 1024;
  const auto data = q4_k_rows(rng, rows, cols, true);
  const Weight w{TensorType::Q4_K, data.data(), data.data(), rows, cols};
  const auto x = aligned_with_errors(w);
  const auto y = emulate(w, x);
  const auto with = audit::check_matmul(w, x, y, f16_route(true));
  const auto without = audit::check_matmul(w, x, y, f16_route(false));
  RecordProperty("ratio with the term", std::to_string(with.ratio));
  RecordProperty("ratio without", std::to_string(without.ratio));
  EXPECT_LE(with.ratio, 1.0);
  EXPECT_GT(with.ratio, 0.05);  // not vacuous: the errors are a fair part of the budget
  EXPECT_GT(without.ratio, 4.0);
}

TEST(MatmulBudget, OrdinaryWeightsAndRandomActivationsStayWithin) {
  std::mt19937 rng(11);
  const int64_t rows = 64, cols = 2048;
  for (bool cancel : {false, true}) {
    const auto data = q4_k_rows(rng, rows, cols, cancel);
    const Weight w{TensorType::Q4_K, data.data(), data.data(), rows, cols};
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    std::vector<float> x(cols);
    for (auto& v : x) v = dist(rng);
    const auto check = audit::check_matmul(w, x, emulate(w, x), f16_route(true));
    EXPECT_TRUE(check.checked);
    EXPECT_LE(check.ratio, 1.0) << (cancel ? "cancelling" : "ordinary");
  }
}

TEST(MatmulBudget, TheF32ContractIsUnchanged) {
  // Without operand rounding the budget is γ_{K+1}·Σ|w x| alone: the exact CPU product is
  // within it, and an error of 2^-10 relative to Σ|w x| (far above γ) is not.
  std::mt19937 rng(3);
  const int64_t rows = 4, cols = 512;
  const auto data = q4_k_rows(rng, rows, cols, false);
  const Weight w{TensorType::Q4_K, data.data(), data.data(), rows, cols};
  std::vector<float> x(cols, 0.5f), y(rows), row(cols);
  double mag = 0;
  for (int64_t r = 0; r < rows; ++r) {
    y[r] = quant::dot(w.type, data.data() + r * w.row_bytes(), x.data(), cols);
    if (r == 0) {
      quant::dequantize_row(w.type, data.data(), row.data(), cols);
      for (float v : row) mag += std::fabs(double(v)) * 0.5;
    }
  }
  EXPECT_LE(audit::check_matmul(w, x, y, RoutePrecision{}).ratio, 1.0);
  y[0] += static_cast<float>(mag * 0x1p-10);
  EXPECT_GT(audit::check_matmul(w, x, y, RoutePrecision{}).ratio, 1.0);
}

}  // namespace greta::test
