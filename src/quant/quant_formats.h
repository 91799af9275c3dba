#pragma once
// Block layouts of the quantized formats (bit-compatible with ggml) and the one fixed
// expression per format that turns stored codes into f32 weights. Every path (scalar,
// AVX2, AVX-512; fused dot and dequantize_row) evaluates exactly these expressions, so
// all of them see the same weights bit for bit:
//   Q8_0:  w = d * q                      (q int8)
//   Q4_0:  w = d * (q - 8)                (q 4-bit)
//   Q4_K:  a = d * sc, b = dmin * m;  w = fma(a, q, -b)   (q 4-bit, sc/m 6-bit)
//   Q5_K:  as Q4_K with q 5-bit
//   Q6_K:  a = d * sc;  w = a * (q - 32)  (q 6-bit, sc int8)
// All products of the scale terms are exact in f32 (at most 19 significant bits), so
// the only rounding is in the final multiply / fused multiply-add.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace greta::quant {

float f16_to_f32(uint16_t h);

struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
  uint16_t d;  // f16 scale
  uint8_t qs[16];  // element j < 16: low nibble of qs[j]; j >= 16: high nibble of qs[j-16]
};
static_assert(sizeof(BlockQ4_0) == 18);

constexpr int kSuperBlock = 256;

struct BlockQ4_K {
  uint16_t d;     // f16 super-scale of the sub-block scales
  uint16_t dmin;  // f16 super-scale of the sub-block mins
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins, see scale_min_k4
  uint8_t qs[128];     // 64-element group g: low nibbles of qs[32g..32g+32) then high nibbles
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];   // element e: bit (e / 32) of qh[e % 32] is the fifth bit
  uint8_t qs[128];  // low four bits, laid out as in Q4_K
};
static_assert(sizeof(BlockQ5_K) == 176);

struct BlockQ6_K {
  uint8_t ql[128];    // low four bits
  uint8_t qh[64];     // high two bits
  int8_t scales[16];  // one per 16 elements
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Blocks inside a row are only 2-byte aligned (and callers may pass any pointer), so
// scalars are read through memcpy.
inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Sub-block j (0..7) of a Q4_K/Q5_K super-block: six-bit scale and min.
inline void scale_min_k4(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// All eight six-bit scales and mins of a Q4_K/Q5_K super-block as bytes, unpacked four at
// a time (same values as scale_min_k4, which the tests check).
inline void k_quant_scale_bytes(const uint8_t* s, uint8_t sc[8], uint8_t m[8]) {
  uint32_t w0, w1, w2;
  std::memcpy(&w0, s, 4);
  std::memcpy(&w1, s + 4, 4);
  std::memcpy(&w2, s + 8, 4);
  const uint32_t sc_lo = w0 & 0x3F3F3F3F, m_lo = w1 & 0x3F3F3F3F;
  const uint32_t sc_hi = (w2 & 0x0F0F0F0F) | (((w0 >> 6) & 0x03030303) << 4);
  const uint32_t m_hi = ((w2 >> 4) & 0x0F0F0F0F) | (((w1 >> 6) & 0x03030303) << 4);
  std::memcpy(sc, &sc_lo, 4);
  std::memcpy(sc + 4, &sc_hi, 4);
  std::memcpy(m, &m_lo, 4);
  std::memcpy(m + 4, &m_hi, 4);
}

// The per-sub-block factors a = d*sc and b = dmin*m of a Q4_K/Q5_K super-block.
inline void k_quant_factors(const uint8_t* block, float a[8], float b[8]) {
  const float d = f16_to_f32(load_u16(block));
  const float dmin = f16_to_f32(load_u16(block + 2));
  const uint8_t* s = block + 4;
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    scale_min_k4(j, s, sc, m);
    a[j] = d * static_cast<float>(sc);
    b[j] = dmin * static_cast<float>(m);
  }
}

// Four-bit code of element e (0..255) of a Q4_K/Q5_K super-block's qs.
inline int k_quant_nibble(const uint8_t* qs, int e) {
  const int g = e / 64, within = e % 64;
  const uint8_t byte = qs[32 * g + within % 32];
  return within < 32 ? (byte & 0xF) : (byte >> 4);
}

// Six-bit code (0..63, not yet offset by 32) of element e (0..255) of a Q6_K super-block.
// Within each 128-element half: l = e % 32 and quarter = (e % 128) / 32 select
// ql[l + 32*(quarter & 1)] (low nibble for quarters 0,1, high for 2,3) and bits
// 2*quarter..2*quarter+1 of qh[l].
inline int q6_k_code(const uint8_t* ql, const uint8_t* qh, int e) {
  const int half = e / 128, within = e % 128;
  const int quarter = within / 32, l = within % 32;
  const uint8_t lo_byte = ql[64 * half + l + 32 * (quarter & 1)];
  const int lo = quarter < 2 ? (lo_byte & 0xF) : (lo_byte >> 4);
  const int hi = (qh[32 * half + l] >> (2 * quarter)) & 3;
  return lo | (hi << 4);
}

// The element formulas, shared by every scalar evaluation.
inline float weight_q8_0(float d, int q) { return d * static_cast<float>(q); }
inline float weight_q4_0(float d, int q) { return d * static_cast<float>(q - 8); }
inline float weight_k(float a, float b, int q) { return std::fma(a, static_cast<float>(q), -b); }
inline float weight_q6_k(float a, int q) { return a * static_cast<float>(q - 32); }

}  // namespace greta::quant
