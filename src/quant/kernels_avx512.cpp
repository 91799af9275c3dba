// AVX-512 kernels: one zmm register is one 16-lane canonical accumulator.
// Everything after the target pragma is internal to this file, so no function compiled
// for AVX-512 can be picked by the linker for a caller on another CPU.
#include <immintrin.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "quant/kernels.h"
#include "quant/quant.h"
#include "quant/quant_formats.h"

#pragma GCC push_options
// GCC 12's _mm512_undefined_* self-initialization trips these warnings inside the headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")

namespace greta::quant::detail {
namespace {

constexpr int kQuantRows = 4, kDenseRows = 4, kGemmRows = 4, kGemmTokens = 6;

struct F {
  __m512 v;
};
struct I {
  __m512i v;
};

inline __mmask16 first_n(int n) { return static_cast<__mmask16>((1u << n) - 1); }

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
inline F zero() { return {_mm512_setzero_ps()}; }
inline F load(const float* p) { return {_mm512_loadu_ps(p)}; }
inline F load_n(const float* p, int n) { return {_mm512_maskz_loadu_ps(first_n(n), p)}; }
inline F fma(F a, F b, F c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline F fmsub(F a, F b, F c) { return {_mm512_fmsub_ps(a.v, b.v, c.v)}; }
inline F mul(F a, F b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline F bcast(float f) { return {_mm512_set1_ps(f)}; }
inline I u8(const uint8_t* p) { return {_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))}; }
inline I s8(const int8_t* p) { return {_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))}; }
inline I and_(I a, int m) { return {_mm512_and_si512(a.v, _mm512_set1_epi32(m))}; }
inline I sub(I a, int m) { return {_mm512_sub_epi32(a.v, _mm512_set1_epi32(m))}; }
template <int S>
inline I srl(I a) {
  if constexpr (S == 0) return a;
  else return {_mm512_srli_epi32(a.v, S)};
}
inline F cvt(I a) { return {_mm512_cvtepi32_ps(a.v)}; }
inline void store(float* p, F a) { _mm512_storeu_ps(p, a.v); }
inline void store_n(float* p, F a, int n) { _mm512_mask_storeu_ps(p, first_n(n), a.v); }

// The canonical tree: l[i]+=l[i+8]; l[i]+=l[i+4]; l[i]+=l[i+2]; l[0]+l[1].
inline float reduce(F a) {
  const __m256 lo = _mm512_castps512_ps256(a.v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a.v), 1));
  const __m256 s8 = _mm256_add_ps(lo, hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

inline F f16(const uint16_t* p) { return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))}; }
inline F f16_n(const uint16_t* p, int n) { return {_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(first_n(n), p))}; }
inline F bf16_of(__m256i h) { return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))}; }
inline F bf16(const uint16_t* p) { return bf16_of(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline F bf16_n(const uint16_t* p, int n) { return bf16_of(_mm256_maskz_loadu_epi16(first_n(n), p)); }

// Code-to-weight tables: one zmm holds the 16 weights of a 4-bit code, two hold 32.
constexpr bool kHasLut = true;
inline F iota_from(float s) {
  return {_mm512_add_ps(_mm512_set1_ps(s), _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))};
}
inline F lut16(F table, I idx) { return {_mm512_permutexvar_ps(idx.v, table.v)}; }
inline F lut32(F lo, F hi, I idx) { return {_mm512_permutex2var_ps(lo.v, idx.v, hi.v)}; }

// Byte-level code assembly of a whole super-block, 64 codes per operation. Shifts that
// differ between the two 256-bit halves are multiplications of 16-bit lanes by powers of
// two (one uop, where variable 16-bit shifts take three); bits that cross into the
// neighbouring byte are masked off afterwards.

// 16-bit lanes: `first` in the low 256 bits, `second` in the high 256 bits.
inline __m512i halves16(short first, short second) {
  return _mm512_inserti64x4(_mm512_set1_epi16(first), _mm256_set1_epi16(second), 1);
}
inline __m512i broadcast32(const uint8_t* p) {
  return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Q6_K, per 128-element half: ql's low nibbles give elements 0..63, its high nibbles
// 64..127; qh (in both halves) supplies bits 2Q..2Q+1 for quarter Q, moved to bits 4..5.
// Stored as q - 32 (int8).
inline void q6_k_codes(const uint8_t* b, int8_t* codes) {
  const __m512i m0f = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), k32 = _mm512_set1_epi8(32);
  const __m512i mul01 = halves16(16, 4), mul23 = halves16(4, 1);  // after >> 2 for quarters 2, 3
  for (int h = 0; h < 2; ++h) {
    const __m512i ql = _mm512_loadu_si512(b + 64 * h);
    const __m512i qh = broadcast32(b + 128 + 32 * h);
    const __m512i lo01 = _mm512_and_si512(ql, m0f), lo23 = _mm512_and_si512(_mm512_srli_epi16(ql, 4), m0f);
    const __m512i hi01 = _mm512_mullo_epi16(qh, mul01);
    const __m512i hi23 = _mm512_mullo_epi16(_mm512_srli_epi16(qh, 2), mul23);
    // A | (B & C): the nibble plus the two high bits.
    const __m512i q01 = _mm512_ternarylogic_epi32(lo01, hi01, m30, 0xF8);
    const __m512i q23 = _mm512_ternarylogic_epi32(lo23, hi23, m30, 0xF8);
    _mm512_storeu_si512(codes + 128 * h, _mm512_sub_epi8(q01, k32));
    _mm512_storeu_si512(codes + 128 * h + 64, _mm512_sub_epi8(q23, k32));
  }
}

// Q5_K, per 64-element group g: qs (in both halves) gives low nibbles for the first 32
// and high nibbles for the next 32; bits 2g and 2g+1 of qh move to bit 4.
inline void q5_k_codes(const uint8_t* b, uint8_t* codes) {
  const __m512i m0f = _mm512_set1_epi8(0x0F), m10 = _mm512_set1_epi8(0x10);
  const __m512i qh = broadcast32(b + 16), qh4 = _mm512_srli_epi16(qh, 4);
  const __m512i mul_even = halves16(16, 8), mul_odd = halves16(4, 2);
  const __m512i high[4] = {_mm512_mullo_epi16(qh, mul_even), _mm512_mullo_epi16(qh, mul_odd),
                           _mm512_mullo_epi16(qh4, mul_even), _mm512_mullo_epi16(qh4, mul_odd)};
  for (int g = 0; g < 4; ++g) {
    const __m512i qs = broadcast32(b + 48 + 32 * g);
    const __m512i nib = _mm512_and_si512(_mm512_mask_blend_epi64(0xF0, qs, _mm512_srli_epi16(qs, 4)), m0f);
    _mm512_storeu_si512(codes + 64 * g, _mm512_ternarylogic_epi32(nib, high[g], m10, 0xF8));
  }
}

#include "quant/kernels_simd.h"

}  // namespace

const Kernels& avx512_kernels() {
  static const Kernels k{simd_dequantize_row, simd_dot_rows, simd_dot_f32, simd_gemm_f32};
  return k;
}

}  // namespace greta::quant::detail

#pragma GCC diagnostic pop
#pragma GCC pop_options
