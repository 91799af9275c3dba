// The canonical reduction: every ISA gives the scalar reference's bits, the fused dot
// gives the dot of the dequantized row, and gemm_f32 gives dot_f32 per element.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "quant/quant.h"
#include "quant_test_util.h"

using namespace greta;
using namespace greta::quant;
using namespace greta::quant::test;

TEST(Kernels, IsaSelection) {
  IsaGuard guard;
  EXPECT_EQ(active_isa(), best_isa());
  set_active_isa(Isa::Scalar);
  EXPECT_EQ(active_isa(), Isa::Scalar);
  set_active_isa(Isa::Avx512);  // clamped to what the CPU has
  EXPECT_EQ(active_isa(), best_isa());
  std::printf("best ISA: %s\n", isa_name(best_isa()));
}

// The order is observable: lane 0 sees 2^24, then +1, then +1; each addition rounds
// back to 2^24 (ties to even). Any other grouping of the ones would give 2^24 + 2.
TEST(Kernels, CanonicalOrderIsObservable) {
  IsaGuard guard;
  std::vector<float> w(33, 0.0f), x(33, 1.0f);
  w[0] = 16777216.0f;
  w[16] = 1.0f;
  w[32] = 1.0f;
  for (Isa isa : available_isas()) {
    set_active_isa(isa);
    EXPECT_EQ(dot_f32(w.data(), x.data(), 33), 16777216.0f) << isa_name(isa);
  }
  // The tree: lanes 0 and 8 are added first (2^24 + 1 -> 2^24), then lane 4 adds 1 more.
  std::vector<float> v(16, 0.0f), ones(16, 1.0f);
  v[0] = 16777216.0f;
  v[8] = 1.0f;
  v[4] = 1.0f;
  v[12] = 1.0f;  // l[4] += l[12] gives 2, then l[0] += l[4]: 2^24 + 2 exactly
  for (Isa isa : available_isas()) {
    set_active_isa(isa);
    EXPECT_EQ(dot_f32(v.data(), ones.data(), 16), 16777218.0f) << isa_name(isa);
  }
}

TEST(Kernels, DotF32MatchesFloat64WithinBound) {
  IsaGuard guard;
  std::mt19937 rng(7);
  for (int64_t n : {1, 5, 16, 17, 100, 1000, 4096, 10007}) {
    const auto a = random_floats(rng, n), b = random_floats(rng, n);
    double exact = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      exact += static_cast<double>(a[i]) * b[i];
      mag += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    // Each lane chain has ceil(n/16) terms, then 4 tree levels.
    const double u = std::numeric_limits<float>::epsilon() / 2;
    const double depth = static_cast<double>((n + 15) / 16 + 4);
    const double bound = depth * u / (1 - depth * u) * mag;
    for (Isa isa : available_isas()) {
      set_active_isa(isa);
      EXPECT_LE(std::fabs(dot_f32(a.data(), b.data(), n) - exact), bound) << isa_name(isa) << " n=" << n;
    }
  }
}

TEST(Kernels, DotEqualsCanonicalDotOfDequantizedRow) {
  IsaGuard guard;
  std::mt19937 rng(11);
  for (TensorType type : kAllTypes) {
    for (int64_t n : test_lengths(type)) {
      const auto row = random_rows(rng, type, 1, n);
      const auto x = random_floats(rng, n);
      set_active_isa(Isa::Scalar);
      std::vector<float> w(static_cast<size_t>(n));
      dequantize_row(type, row.data(), w.data(), n);
      const float expected = dot_f32(w.data(), x.data(), n);
      for (Isa isa : available_isas()) {
        set_active_isa(isa);
        EXPECT_EQ(bits(dot(type, row.data(), x.data(), n)), bits(expected))
            << type_traits(type).name << " n=" << n << " " << isa_name(isa);
      }
    }
  }
}

TEST(Kernels, DequantizeRowBitExactAcrossIsas) {
  IsaGuard guard;
  std::mt19937 rng(13);
  for (TensorType type : kAllTypes) {
    for (int64_t n : test_lengths(type)) {
      const auto row = random_rows(rng, type, 1, n);
      set_active_isa(Isa::Scalar);
      std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n) + 1);
      dequantize_row(type, row.data(), ref.data(), n);
      for (Isa isa : available_isas()) {
        set_active_isa(isa);
        got.back() = 12345.0f;  // must not be written
        dequantize_row(type, row.data(), got.data(), n);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(bits(got[i]), bits(ref[i])) << type_traits(type).name << " n=" << n << " i=" << i << " " << isa_name(isa);
        EXPECT_EQ(got.back(), 12345.0f);
      }
    }
  }
}

TEST(Kernels, DotRowsBitExactAcrossIsas) {
  IsaGuard guard;
  std::mt19937 rng(17);
  for (TensorType type : kAllTypes) {
    for (int64_t n : test_lengths(type)) {
      for (int64_t n_rows : {1, 3, 4, 7, 8, 13}) {
        const auto rows = random_rows(rng, type, n_rows, n);
        const auto x = random_floats(rng, n);
        const int64_t stride = row_bytes(type, n);
        set_active_isa(Isa::Scalar);
        std::vector<float> ref(static_cast<size_t>(n_rows));
        dot_rows(type, rows.data(), stride, n_rows, x.data(), n, ref.data());
        for (Isa isa : available_isas()) {
          set_active_isa(isa);
          std::vector<float> y(static_cast<size_t>(n_rows));
          dot_rows(type, rows.data(), stride, n_rows, x.data(), n, y.data());
          for (int64_t r = 0; r < n_rows; ++r) {
            ASSERT_EQ(bits(y[r]), bits(ref[r]))
                << type_traits(type).name << " n=" << n << " rows=" << n_rows << " r=" << r << " " << isa_name(isa);
            ASSERT_EQ(bits(y[r]), bits(dot(type, rows.data() + r * stride, x.data(), n)));
          }
        }
      }
    }
  }
}

TEST(Kernels, GemmEqualsDotF32PerElement) {
  IsaGuard guard;
  std::mt19937 rng(19);
  std::vector<int64_t> ks;
  for (int64_t k = 1; k <= 67; ++k) ks.push_back(k);
  ks.push_back(512);
  ks.push_back(1031);
  for (int64_t k : ks) {
    for (auto [n_rows, n_tokens] : {std::pair<int64_t, int64_t>{1, 1}, {4, 6}, {9, 13}, {5, 7}, {8, 12}}) {
      const int64_t ldw = k + 3, ldx = k + 5, ldy = n_rows + 2;
      const auto w = random_floats(rng, n_rows * ldw), x = random_floats(rng, n_tokens * ldx);
      set_active_isa(Isa::Scalar);
      std::vector<float> ref(static_cast<size_t>(n_tokens * ldy), -1.0f);
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t r = 0; r < n_rows; ++r) ref[t * ldy + r] = dot_f32(w.data() + r * ldw, x.data() + t * ldx, k);
      for (Isa isa : available_isas()) {
        set_active_isa(isa);
        std::vector<float> y(static_cast<size_t>(n_tokens * ldy), -1.0f);
        gemm_f32(w.data(), ldw, n_rows, x.data(), ldx, n_tokens, k, y.data(), ldy);
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_EQ(bits(y[i]), bits(ref[i])) << "k=" << k << " rows=" << n_rows << " tokens=" << n_tokens << " i=" << i
                                              << " " << isa_name(isa);
        // And each element equals this ISA's own dot_f32.
        for (int64_t t = 0; t < n_tokens; ++t)
          for (int64_t r = 0; r < n_rows; ++r)
            ASSERT_EQ(bits(y[t * ldy + r]), bits(dot_f32(w.data() + r * ldw, x.data() + t * ldx, k)));
      }
    }
  }
}

TEST(Kernels, RejectsLengthsThatAreNotWholeBlocks) {
  std::vector<uint8_t> row(1024);
  std::vector<float> x(300), y(300);
  EXPECT_THROW(dot(TensorType::Q4_K, row.data(), x.data(), 100), std::invalid_argument);
  EXPECT_THROW(dequantize_row(TensorType::Q8_0, row.data(), y.data(), 33), std::invalid_argument);
}
