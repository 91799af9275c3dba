// f64_to_f16, the f16 weights of reduced-precision routes (dequantize_row_f16) and the
// terms of their error bound (weight_rounding_terms).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "quant/quant_formats.h"
#include "quant_test_util.h"

using namespace greta;
using namespace greta::quant;
using namespace greta::quant::test;

namespace {

constexpr double kU = 0x1p-11, kEta = 0x1p-25;

// One weight as the test reads it from the layout: the exact value, and for the formats
// rounded from scale terms, the f16 fused multiply-add's exact argument s = q·a16 − m16
// (a16, m16 rounded through f32, independently of f64_to_f16) and T = |q||a| + |b|.
struct RefWeight {
  double w = 0, s = 0, t = 0;
  bool scaled = false;
};

double h(float v) { return f16_to_f32(f32_to_f16(v)); }  // f32 value rounded to f16

RefWeight scaled_weight(float a, float b, int q) {  // a, b exact in f32 (≤ 17 bits)
  RefWeight r;
  r.scaled = true;
  r.w = double(q) * a - b;
  r.s = double(q) * h(a) - h(b);
  r.t = std::fabs(double(q)) * std::fabs(a) + std::fabs(b);
  return r;
}

RefWeight plain_weight(double w) {
  RefWeight r;
  r.w = r.s = w;
  return r;
}

std::vector<RefWeight> reference(TensorType type, const uint8_t* row, int64_t n) {
  std::vector<RefWeight> out;
  const auto& tt = type_traits(type);
  for (int64_t i = 0; i < n / tt.block_size; ++i) {
    const uint8_t* b = row + i * tt.block_bytes;
    switch (type) {
      case TensorType::F32: {
        float v;
        std::memcpy(&v, b, 4);
        out.push_back(plain_weight(v));
        break;
      }
      case TensorType::F16: out.push_back(plain_weight(f16_to_f32(load_u16(b)))); break;
      case TensorType::BF16: out.push_back(plain_weight(bf16_to_f32(load_u16(b)))); break;
      case TensorType::Q8_0:
        for (int j = 0; j < 32; ++j) out.push_back(plain_weight(double(f16_to_f32(load_u16(b))) * int8_t(b[2 + j])));
        break;
      case TensorType::Q4_0:
        for (int j = 0; j < 32; ++j) {
          const int q = j < 16 ? (b[2 + j] & 0xF) : (b[2 + j - 16] >> 4);
          out.push_back(plain_weight(double(f16_to_f32(load_u16(b))) * (q - 8)));
        }
        break;
      case TensorType::Q4_K:
      case TensorType::Q5_K: {
        float a[8], m[8];
        k_quant_factors(b, a, m);
        const bool q5 = type == TensorType::Q5_K;
        for (int e = 0; e < kSuperBlock; ++e) {
          int q = k_quant_nibble(b + (q5 ? 48 : 16), e);
          if (q5) q |= ((b[16 + e % 32] >> (e / 32)) & 1) << 4;
          out.push_back(scaled_weight(a[e / 32], m[e / 32], q));
        }
        break;
      }
      case TensorType::Q6_K: {
        const float d = f16_to_f32(load_u16(b + 208));
        for (int e = 0; e < kSuperBlock; ++e)
          out.push_back(scaled_weight(d * float(int8_t(b[192 + e / 16])), 0.0f, q6_k_code(b, b + 128, e) - 32));
        break;
      }
    }
  }
  return out;
}

uint16_t random_f16(std::mt19937& rng, double lo, double hi) {  // |v| in [lo, hi), random sign
  const double v = std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng));
  return f64_to_f16(rng() & 1 ? v : -v);
}

// Scale regimes: the magnitude of d and dmin (or of the values of element types).
enum class Regime { Subnormal, Small, Typical, Large, Cancelling };

// Largest |code| times scale per type, to keep weights finite in the Large regime.
double code_span(TensorType t) {
  switch (t) {
    case TensorType::Q8_0: return 128;
    case TensorType::Q4_0: return 8;
    case TensorType::Q4_K: return 15 * 63;
    case TensorType::Q5_K: return 31 * 63;
    case TensorType::Q6_K: return 128 * 32;
    default: return 1;
  }
}

std::vector<uint8_t> make_rows(std::mt19937& rng, TensorType type, int64_t rows, int64_t n, Regime regime) {
  auto data = random_rows(rng, type, rows, n);
  const auto& tt = type_traits(type);
  auto scale = [&]() -> uint16_t {
    switch (regime) {
      case Regime::Subnormal: return static_cast<uint16_t>((rng() % 0x400) | (rng() & 0x8000));
      case Regime::Small: return random_f16(rng, 0x1p-14, 0x1p-9);
      case Regime::Typical:
      case Regime::Cancelling: return random_f16(rng, 1e-4, 0.1);
      case Regime::Large: return random_f16(rng, 0.5 * 60000 / code_span(type), 60000 / code_span(type));
    }
    return 0;
  };
  for (int64_t i = 0; i < rows * (n / tt.block_size); ++i) {
    uint8_t* b = data.data() + i * tt.block_bytes;
    auto put = [](uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); };
    switch (type) {
      case TensorType::F32: {
        const float v = f16_to_f32(scale()) * std::uniform_real_distribution<float>(0.5f, 1.0f)(rng);
        std::memcpy(b, &v, 4);
        break;
      }
      case TensorType::F16: put(b, scale()); break;
      case TensorType::BF16: put(b, f32_to_bf16(f16_to_f32(scale()) * 0.77f)); break;
      case TensorType::Q8_0:
      case TensorType::Q4_0: put(b, scale()); break;
      case TensorType::Q6_K: put(b + 208, scale()); break;
      case TensorType::Q4_K:
      case TensorType::Q5_K: {
        if (regime != Regime::Cancelling) {
          put(b, scale());
          put(b + 2, scale());
          break;
        }
        // d > 0, dmin ≈ 4d and m = 2·sc in sub-blocks 0..3: dmin·m ≈ 8·d·sc, so weights
        // near code 8 nearly cancel and T is many times |w|.
        const uint16_t d = scale() & 0x7FFF;
        put(b, d);
        put(b + 2, f64_to_f16(4.0 * f16_to_f32(d)));
        for (int j = 0; j < 4; ++j) {
          b[4 + j] = static_cast<uint8_t>(16 + rng() % 16);
          b[8 + j] = static_cast<uint8_t>(2 * b[4 + j]);
        }
        break;
      }
    }
  }
  return data;
}

}  // namespace

TEST(F64ToF16, AgreesWithF32ToF16OnFloats) {
  auto check = [](float f) {
    if (std::isnan(f)) return;
    ASSERT_EQ(f64_to_f16(f), f32_to_f16(f)) << std::hexfloat << f;
  };
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += 257) check(std::bit_cast<float>(uint32_t(bits)));
  // Every halfway point between neighbouring f16 values, and the floats either side of it.
  for (uint32_t x = 0; x < 0x7C00; ++x) {
    const float mid = (f16_to_f32(uint16_t(x)) + f16_to_f32(uint16_t(x + 1))) / 2;  // exact
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), f16_to_f32(uint16_t(x))}) {
      check(f);
      check(-f);
    }
  }
}

TEST(F64ToF16, TiesSubnormalsOverflow) {
  EXPECT_EQ(f64_to_f16(1.0 + 0x1p-11), 0x3C00);      // tie: even
  EXPECT_EQ(f64_to_f16(1.0 + 3 * 0x1p-11), 0x3C02);  // tie: even, upwards
  // Just above a tie, closer than any f32 can say: rounding through f32 would land on the
  // tie and go down.
  EXPECT_EQ(f64_to_f16(1.0 + 0x1p-11 + 0x1p-40), 0x3C01);
  EXPECT_EQ(f32_to_f16(float(1.0 + 0x1p-11 + 0x1p-40)), 0x3C00);
  EXPECT_EQ(f64_to_f16(1.0 + 0x1p-11 - 0x1p-40), 0x3C00);
  EXPECT_EQ(f64_to_f16(2049.0), 0x6800);  // spacing 2 here: tie to 2048
  EXPECT_EQ(f64_to_f16(2051.0), 0x6802);  // tie to 2052
  // Subnormals: spacing 2^-24.
  EXPECT_EQ(f64_to_f16(0x1p-25), 0x0000);
  EXPECT_EQ(f64_to_f16(0x1p-25 + 0x1p-70), 0x0001);
  EXPECT_EQ(f64_to_f16(3 * 0x1p-25), 0x0002);
  EXPECT_EQ(f64_to_f16(5 * 0x1p-25), 0x0002);
  EXPECT_EQ(f64_to_f16(7 * 0x1p-25), 0x0004);
  EXPECT_EQ(f64_to_f16(-3 * 0x1p-25), 0x8002);
  EXPECT_EQ(f64_to_f16(0x1p-14 - 0x1p-25), 0x0400);  // tie between 1023 and 1024 units: the normal
  EXPECT_EQ(f64_to_f16(0x1p-13 - 0x1p-25), 0x0800);  // tie at the top of the first binade
  EXPECT_EQ(f64_to_f16(1e-300), 0x0000);
  EXPECT_EQ(f64_to_f16(-1e-300), 0x8000);
  EXPECT_EQ(f64_to_f16(0.0), 0x0000);
  EXPECT_EQ(f64_to_f16(-0.0), 0x8000);
  // Overflow: 65520 is halfway between 65504 and 2^16, and ties to even (infinity).
  EXPECT_EQ(f64_to_f16(65504.0), 0x7BFF);
  EXPECT_EQ(f64_to_f16(65520.0 - 0x1p-30), 0x7BFF);
  EXPECT_EQ(f64_to_f16(65520.0), 0x7C00);
  EXPECT_EQ(f64_to_f16(-65520.0), 0xFC00);
  EXPECT_EQ(f64_to_f16(1e300), 0x7C00);
  EXPECT_EQ(f64_to_f16(-INFINITY), 0xFC00);
  EXPECT_EQ(f64_to_f16(std::numeric_limits<double>::quiet_NaN()), 0x7FFF);
}

// For every type and scale regime: each f16 weight is the single rounding of the reference
// argument, the exact weight agrees with dequantize_row, T is as the layout says, and the
// error bound holds; for the formats with scale terms the T term is really needed.
TEST(F16Weights, BoundHoldsForEveryTypeAndScale) {
  std::mt19937 rng(20240611);
  for (TensorType type : kAllTypes) {
    const int64_t n = type_traits(type).block_size == 1 ? 512 : 1024, rows = 16;
    for (Regime regime : {Regime::Subnormal, Regime::Small, Regime::Typical, Regime::Large, Regime::Cancelling}) {
      const auto data = make_rows(rng, type, rows, n, regime);
      int beyond_single_rounding = 0;
      double worst = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* row = data.data() + r * row_bytes(type, n);
        std::vector<uint16_t> w16(n);
        std::vector<double> t(n);
        std::vector<float> w32(n);
        dequantize_row_f16(type, row, w16.data(), n);
        weight_rounding_terms(type, row, t.data(), n);
        dequantize_row(type, row, w32.data(), n);
        const auto ref = reference(type, row, n);
        for (int64_t k = 0; k < n; ++k) {
          const auto& e = ref[k];
          auto where = [&] {  // only evaluated when an assertion fails
            return std::string(type_traits(type).name) + " regime " + std::to_string(int(regime)) + " row " +
                   std::to_string(r) + " k " + std::to_string(k);
          };
          ASSERT_EQ(float(e.w), w32[k]) << where();  // the reference reads the layout right
          ASSERT_EQ(t[k], e.t) << where();
          if (!e.scaled && double(float(e.s)) == e.s)
            ASSERT_EQ(w16[k], f32_to_f16(float(e.s))) << where();
          else
            ASSERT_EQ(w16[k], f64_to_f16(e.s)) << where();
          const double got = f16_to_f32(w16[k]);
          ASSERT_TRUE(std::isfinite(got)) << where();
          const double err = std::fabs(got - e.w);
          const bool plain_float = type == TensorType::F32 || type == TensorType::BF16;
          const double single = kU * std::fabs(e.w) + (plain_float ? kEta : 0.0);
          const double bound = single + (1 + kU) * kU * e.t;
          ASSERT_LE(err, bound) << where() << std::hexfloat << " w " << e.w << " w16 " << got;
          worst = std::max(worst, err / bound);
          if (err > single) ++beyond_single_rounding;
        }
      }
      const bool scaled = type == TensorType::Q4_K || type == TensorType::Q5_K || type == TensorType::Q6_K;
      if (!scaled) {
        EXPECT_EQ(beyond_single_rounding, 0) << type_traits(type).name;
      } else if (regime != Regime::Subnormal) {
        EXPECT_GT(beyond_single_rounding, 0) << type_traits(type).name;
      }
      RecordProperty(std::string(type_traits(type).name) + " regime " + std::to_string(int(regime)) + " worst error / bound",
                     std::to_string(worst));
    }
  }
}

// The weights and terms of hand-built blocks: scale rounding that ties, and cancellation.
TEST(F16Weights, HandBuiltBlocks) {
  // Q4_K: d = 1 + 2^-10, sub-block 0 sc = 3, m = 5, dmin = 0.5. a = 3 + 3·2^-10 is halfway
  // between two f16 values (spacing 2^-9): a16 = 3 + 2^-8. b = 2.5 exactly.
  BlockQ4_K k{};
  k.d = f64_to_f16(1.0 + 0x1p-10);
  k.dmin = f64_to_f16(0.5);
  k.scales[0] = 3;
  k.scales[4] = 5;
  k.qs[0] = 1;   // element 0: q = 1 (element 32, sub-block 1 with sc = m = 0: q = 0)
  k.qs[1] = 15;  // element 1: q = 15
  std::vector<uint16_t> w16(256);
  std::vector<double> t(256);
  dequantize_row_f16(TensorType::Q4_K, &k, w16.data(), 256);
  weight_rounding_terms(TensorType::Q4_K, &k, t.data(), 256);
  const double a = 3 + 3 * 0x1p-10, a16 = 3 + 0x1p-8;
  EXPECT_EQ(f16_to_f32(w16[0]), a16 - 2.5);  // 0.50390625, exact w 0.5029296875
  EXPECT_EQ(t[0], a + 2.5);
  // |w16 − w| = 2^-10 is four times u·|w|: only the T term covers it.
  EXPECT_GT(std::fabs(double(f16_to_f32(w16[0])) - (a - 2.5)), 3.9 * kU * (a - 2.5));
  EXPECT_EQ(f16_to_f32(w16[1]), 42.5625f);  // rn(15·a16 − 2.5 = 42.55859375), spacing 2^-5
  EXPECT_EQ(t[1], 15 * a + 2.5);
  EXPECT_EQ(f16_to_f32(w16[2]), -2.5f);  // q = 0: −m16
  EXPECT_EQ(t[2], 2.5);
  EXPECT_EQ(w16[32], 0x0000);
  EXPECT_EQ(t[32], 0.0);

  // Q6_K: d = 1 + 2^-10, sc[0] = −3: a16 = −(3 + 2^-8). Element 0 has code 33 (q − 32 = 1):
  // ql[0] low nibble 1, qh[0] bits 0..1 = 2. Elements 1..15 have code 0 (q − 32 = −32).
  BlockQ6_K six{};
  six.d = f64_to_f16(1.0 + 0x1p-10);
  six.scales[0] = -3;
  six.ql[0] = 1;
  six.qh[0] = 2;
  dequantize_row_f16(TensorType::Q6_K, &six, w16.data(), 256);
  weight_rounding_terms(TensorType::Q6_K, &six, t.data(), 256);
  EXPECT_EQ(f16_to_f32(w16[0]), -a16);
  EXPECT_EQ(t[0], a);
  EXPECT_EQ(f16_to_f32(w16[1]), 32 * a16);  // 96.125, exact
  EXPECT_EQ(t[1], 32 * a);
  EXPECT_EQ(t[16], 0.0);  // sub-block 1: sc = 0

  // Q8_0 and F32: one rounding, no T term.
  BlockQ8_0 q8{};
  q8.d = f64_to_f16(1.0 + 0x1p-10);
  q8.qs[0] = 3;
  dequantize_row_f16(TensorType::Q8_0, &q8, w16.data(), 32);
  weight_rounding_terms(TensorType::Q8_0, &q8, t.data(), 32);
  EXPECT_EQ(f16_to_f32(w16[0]), a16);
  EXPECT_EQ(t[0], 0.0);
  const float f[2] = {1e-9f, 70000.0f};
  dequantize_row_f16(TensorType::F32, f, w16.data(), 2);
  EXPECT_EQ(w16[0], 0x0000);  // below half the smallest subnormal
  EXPECT_EQ(w16[1], 0x7C00);  // overflow
}

TEST(F16Weights, F16RowsKeepTheirBitsAndOverflowIsInfinite) {
  const uint16_t in[4] = {0x3C00, 0x7C01, 0x8001, 0xFBFF};
  uint16_t out[4];
  dequantize_row_f16(TensorType::F16, in, out, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], in[i]);
  BlockQ8_0 q8{};
  q8.d = f64_to_f16(60000.0);
  q8.qs[0] = 127;
  q8.qs[1] = -127;
  std::vector<uint16_t> w16(32);
  dequantize_row_f16(TensorType::Q8_0, &q8, w16.data(), 32);
  EXPECT_EQ(w16[0], 0x7C00);
  EXPECT_EQ(w16[1], 0xFC00);
}
