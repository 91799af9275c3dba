// Software f16/bf16 conversions. Widening is exact; narrowing rounds to nearest even.
// NaNs stay NaN with the quiet bit set (what vcvtph2ps does), so the software and the
// hardware conversions agree on every input.
#include <bit>
#include <cstdint>

#include "quant/quant.h"

namespace greta::quant {

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in f32.
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | sign);
  }
  if (exp == 31) {
    const uint32_t bits = mant == 0 ? 0x7F800000u : (0x7FC00000u | (mant << 13));
    return std::bit_cast<float>(sign | bits);
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7FFFFFFF;
  if (ax >= 0x7F800000) {  // Inf or NaN
    if (ax == 0x7F800000) return sign | 0x7C00;
    return sign | 0x7E00 | static_cast<uint16_t>((ax >> 13) & 0x3FF);
  }
  if (ax >= 0x477FF000) return sign | 0x7C00;  // >= 65520 rounds to infinity
  const uint32_t e = ax >> 23;
  if (e < 113) {  // below 2^-14: f16 subnormal (unit 2^-24) or zero
    const uint32_t mant = (ax & 0x7FFFFF) | (e ? 0x800000u : 0u);
    const uint32_t shift = 126 - (e ? e : 1);
    if (shift > 24) return sign;
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return sign | static_cast<uint16_t>(q);
  }
  uint32_t q = ((e - 112) << 10) | ((ax & 0x7FFFFF) >> 13);
  const uint32_t rem = ax & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) ++q;  // a carry into the exponent is right
  return sign | static_cast<uint16_t>(q);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

}  // namespace greta::quant
