// The f16 weights a reduced-precision GPU route multiplies, emulated bit for bit, and the
// per-weight term of their error bound (derivation in docs/audit.md).
//
// Every weight is w = q·a − b with integers q and exact scale products a, b; all of them
// are exact in double: a = d·sc and b = dmin·m have at most 17 significant bits, and
// q·a − b is an integer multiple of 2^-24 below 2^28 (d and dmin are f16 values, so
// multiples of 2^-24). So computing in double and rounding once to f16 is the single
// rounding of the exact value the GPU's conversions and fused multiply-add perform.
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "quant/quant.h"
#include "quant/quant_formats.h"

namespace greta::quant {
namespace {

double f16_value(uint16_t h) { return f16_to_f32(h); }
double rn16(double v) { return f16_value(f64_to_f16(v)); }

// Calls fn(k, a, b, q, scaled) for each weight k of the row. scaled: the GPU rounds a and
// b to f16 first and w16 = rn(q·rn(a) − rn(b)); otherwise w16 = rn(a), a being w itself.
template <class Fn>
void for_each_weight(TensorType type, const void* row, int64_t n, Fn&& fn) {
  const auto* p = static_cast<const uint8_t*>(row);
  const int64_t bs = type_traits(type).block_size, bb = type_traits(type).block_bytes;
  for (int64_t i = 0; i < n / bs; ++i) {
    const uint8_t* b = p + i * bb;
    const int64_t k0 = i * bs;
    switch (type) {
      case TensorType::F32: {
        float v;
        std::memcpy(&v, b, 4);
        fn(k0, double(v), 0.0, 1, false);
        break;
      }
      case TensorType::F16: fn(k0, f16_value(load_u16(b)), 0.0, 1, false); break;
      case TensorType::BF16: fn(k0, double(bf16_to_f32(load_u16(b))), 0.0, 1, false); break;
      case TensorType::Q8_0: {
        const double d = f16_value(load_u16(b));
        const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
        for (int j = 0; j < 32; ++j) fn(k0 + j, d * qs[j], 0.0, 1, false);
        break;
      }
      case TensorType::Q4_0: {
        const double d = f16_value(load_u16(b));
        for (int j = 0; j < 16; ++j) {
          fn(k0 + j, d * ((b[2 + j] & 0xF) - 8), 0.0, 1, false);
          fn(k0 + j + 16, d * ((b[2 + j] >> 4) - 8), 0.0, 1, false);
        }
        break;
      }
      case TensorType::Q4_K:
      case TensorType::Q5_K: {
        const double d = f16_value(load_u16(b)), dmin = f16_value(load_u16(b + 2));
        const bool q5 = type == TensorType::Q5_K;
        const uint8_t* qs = b + (q5 ? 48 : 16);
        for (int e = 0; e < kSuperBlock; ++e) {
          int sc, m;
          scale_min_k4(e / 32, b + 4, sc, m);
          const int q = k_quant_nibble(qs, e) | (q5 ? ((b[16 + e % 32] >> (e / 32)) & 1) << 4 : 0);
          fn(k0 + e, d * sc, dmin * m, q, true);
        }
        break;
      }
      case TensorType::Q6_K: {
        const double d = f16_value(load_u16(b + 208));
        const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
        for (int e = 0; e < kSuperBlock; ++e) fn(k0 + e, d * sc[e / 16], 0.0, q6_k_code(b, b + 128, e) - 32, true);
        break;
      }
    }
  }
}

}  // namespace

uint16_t f64_to_f16(double v) {
  if (std::isnan(v)) return 0x7FFF;  // the GPU's canonical f16 NaN
  const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  const double ax = std::fabs(v);
  if (ax >= 65520.0) return sign | 0x7C00;  // halfway above 65504 and beyond: infinity
  int e;
  std::frexp(ax, &e);  // ax = f·2^e, f in [0.5, 1)
  // Spacing of f16 values at ax: 2^-24 below 2^-13 (subnormals and the first binade),
  // 2^(e-11) above.
  const int unit_exp = ax < 0x1p-13 ? -24 : e - 11;
  const double r = std::ldexp(ax, -unit_exp);  // exact: a power-of-two scaling
  double q = std::floor(r);
  const double frac = r - q;  // exact: r < 2^11
  if (frac > 0.5 || (frac == 0.5 && std::fmod(q, 2.0) != 0)) q += 1;
  // Below 2^-13 the bits are q itself (q = 1024 is the smallest normal). Above, q is in
  // [1024, 2048] and 2048 carries into the next exponent, which the addition gets right.
  if (unit_exp == -24) return sign | static_cast<uint16_t>(q);
  return sign | static_cast<uint16_t>(((unit_exp + 25) << 10) + (static_cast<int>(q) - 1024));
}

void dequantize_row_f16(TensorType type, const void* row, uint16_t* out, int64_t n) {
  if (type == TensorType::F16) {  // already f16: the stored bits, NaN payloads included
    std::memcpy(out, row, static_cast<size_t>(n) * 2);
    return;
  }
  for_each_weight(type, row, n, [&](int64_t k, double a, double b, int q, bool scaled) {
    // q·rn(a) − rn(b) is exact in double (an f16 multiple of 2^-24 times q < 2^6, minus one).
    out[k] = f64_to_f16(scaled ? q * rn16(a) - rn16(b) : a);
  });
}

void weight_rounding_terms(TensorType type, const void* row, double* t, int64_t n) {
  for_each_weight(type, row, n, [&](int64_t k, double a, double b, int q, bool scaled) {
    t[k] = scaled ? std::fabs(double(q)) * std::fabs(a) + std::fabs(b) : 0.0;
  });
}

}  // namespace greta::quant
