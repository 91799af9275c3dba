// AVX2+FMA kernels: two ymm registers (lanes 0-7 and 8-15) emulate one 16-lane
// canonical accumulator. Everything after the target pragma is internal to this file.
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
#pragma GCC target("avx2,fma,f16c")

namespace greta::quant::detail {
namespace {

constexpr int kQuantRows = 4, kDenseRows = 4, kGemmRows = 2, kGemmTokens = 3;

struct F {
  __m256 lo, hi;
};
struct I {
  __m256i lo, hi;
};

// Lane masks for a zero-padded tail of n < 16 elements.
inline __m256i lane_mask(int n, int first) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n - first), iota);
}

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
inline F zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline F load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
inline F load_n(const float* p, int n) {
  return {_mm256_maskload_ps(p, lane_mask(n, 0)), _mm256_maskload_ps(p + 8, lane_mask(n, 8))};
}
inline F fma(F a, F b, F c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
inline F fmsub(F a, F b, F c) { return {_mm256_fmsub_ps(a.lo, b.lo, c.lo), _mm256_fmsub_ps(a.hi, b.hi, c.hi)}; }
inline F mul(F a, F b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
inline F bcast(float f) { return {_mm256_set1_ps(f), _mm256_set1_ps(f)}; }
inline __m128i load8(const void* p) { return _mm_loadl_epi64(static_cast<const __m128i*>(p)); }
inline I u8(const uint8_t* p) { return {_mm256_cvtepu8_epi32(load8(p)), _mm256_cvtepu8_epi32(load8(p + 8))}; }
inline I s8(const int8_t* p) { return {_mm256_cvtepi8_epi32(load8(p)), _mm256_cvtepi8_epi32(load8(p + 8))}; }
inline I and_(I a, int m) {
  const __m256i mv = _mm256_set1_epi32(m);
  return {_mm256_and_si256(a.lo, mv), _mm256_and_si256(a.hi, mv)};
}
inline I sub(I a, int m) {
  const __m256i mv = _mm256_set1_epi32(m);
  return {_mm256_sub_epi32(a.lo, mv), _mm256_sub_epi32(a.hi, mv)};
}
template <int S>
inline I srl(I a) {
  if constexpr (S == 0) return a;
  else return {_mm256_srli_epi32(a.lo, S), _mm256_srli_epi32(a.hi, S)};
}
inline F cvt(I a) { return {_mm256_cvtepi32_ps(a.lo), _mm256_cvtepi32_ps(a.hi)}; }
inline void store(float* p, F a) {
  _mm256_storeu_ps(p, a.lo);
  _mm256_storeu_ps(p + 8, a.hi);
}
inline void store_n(float* p, F a, int n) {
  _mm256_maskstore_ps(p, lane_mask(n, 0), a.lo);
  _mm256_maskstore_ps(p + 8, lane_mask(n, 8), a.hi);
}

// The canonical tree: l[i]+=l[i+8] is lo+hi; then l[i]+=l[i+4]; l[i]+=l[i+2]; l[0]+l[1].
inline float reduce(F a) {
  const __m256 s8 = _mm256_add_ps(a.lo, a.hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

inline F f16(const uint16_t* p) {
  return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)))};
}
inline F f16_n(const uint16_t* p, int n) {
  uint16_t tmp[16] = {};
  std::memcpy(tmp, p, static_cast<size_t>(n) * 2);
  return f16(tmp);
}
inline __m256 bf16_8(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline F bf16(const uint16_t* p) { return {bf16_8(p), bf16_8(p + 8)}; }
inline F bf16_n(const uint16_t* p, int n) {
  uint16_t tmp[16] = {};
  std::memcpy(tmp, p, static_cast<size_t>(n) * 2);
  return bf16(tmp);
}

// An 8-lane permute cannot hold a 16-entry table: codes are converted arithmetically.
constexpr bool kHasLut = false;
// Declared for the discarded branches only; never defined or called.
#pragma GCC diagnostic ignored "-Wunused-function"
[[maybe_unused]] F iota_from(float s);
[[maybe_unused]] F lut16(F table, I idx);
[[maybe_unused]] F lut32(F lo, F hi, I idx);

// Byte-level code assembly of a whole super-block, 32 codes per operation.
inline __m256i nibbles32(__m256i v, bool high) {
  if (high) v = _mm256_srli_epi16(v, 4);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}
inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
// Each byte's bits moved by `left` (negative: right); 16-bit shifts, so callers mask.
inline __m256i shift32(__m256i v, int left) {
  return left >= 0 ? _mm256_sll_epi16(v, _mm_cvtsi32_si128(left)) : _mm256_srl_epi16(v, _mm_cvtsi32_si128(-left));
}

// Q6_K: chunk C (32 elements) of half C/4, quarter Q = C%4: nibble of ql, bits 2Q..2Q+1
// of qh at 4..5; stored as q - 32 (int8).
inline void q6_k_codes(const uint8_t* b, int8_t* codes) {
  for (int c = 0; c < 8; ++c) {
    const int half = c / 4, quarter = c % 4;
    const __m256i lo = nibbles32(load32(b + 64 * half + 32 * (quarter & 1)), quarter >= 2);
    const __m256i hi = _mm256_and_si256(shift32(load32(b + 128 + 32 * half), 4 - 2 * quarter), _mm256_set1_epi8(0x30));
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, hi), _mm256_set1_epi8(32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 32 * c), q);
  }
}

// Q5_K: chunk C: nibble of qs (low for even C, high for odd), bit C of qh at bit 4.
inline void q5_k_codes(const uint8_t* b, uint8_t* codes) {
  const __m256i qh = load32(b + 16);
  for (int c = 0; c < 8; ++c) {
    const __m256i lo = nibbles32(load32(b + 48 + 32 * (c / 2)), c % 2 == 1);
    const __m256i hi = _mm256_and_si256(shift32(qh, 4 - c), _mm256_set1_epi8(0x10));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 32 * c), _mm256_or_si256(lo, hi));
  }
}

#include "quant/kernels_simd.h"

}  // namespace

const Kernels& avx2_kernels() {
  static const Kernels k{simd_dequantize_row, simd_dot_rows, simd_dot_f32, simd_gemm_f32};
  return k;
}

}  // namespace greta::quant::detail

#pragma GCC pop_options
