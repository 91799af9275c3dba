#pragma once
// The f16 weights of the fast precision, one formula per format, shared by both matrix
// routes: the prefill route writes them into f16 rows for its GEMM (launch_dequant_f16),
// the decode route builds the same values in registers (cuda_gemv_f16.cu). Same bits on
// both routes is what keeps decode0 and prefill_last apart only by summation order.
//
// rn(v) is v rounded to nearest f16 once, from the exact real value:
//   F32, BF16: rn(w)        F16: w          Q8_0: rn(d·q)      Q4_0: rn(d·(q−8))
//   Q4_K, Q5_K: a = rn(d·sc), m = rn(dmin·mn), w = rn(q·a − m)   (one f16 fused multiply-add)
//   Q6_K: a = rn(d·sc), w = rn((q−32)·a)
// These are what two f16 instructions per pair of weights can build (codes are exact small
// integers in f16); the CPU twin is quant::dequantize_row_f16, and the audit's budget for
// the rounded scale terms is in docs/audit.md.
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/cuda_dequant.cuh"

namespace greta::cuda {

__device__ __forceinline__ __half2 u32_as_half2(uint32_t v) { return *reinterpret_cast<const __half2*>(&v); }
__device__ __forceinline__ uint32_t half2_as_u32(__half2 h) { return *reinterpret_cast<const uint32_t*>(&h); }

// The f16 value of code c (0 <= c < 1024) minus `offset`, exactly: 0x6400 | c is the f16
// 1024 + c, and the subtraction of an integer below 2048 is exact.
__device__ __forceinline__ __half small_code_half(uint32_t c, float offset) {
  return __hsub_rn(__ushort_as_half(static_cast<unsigned short>(0x6400u | c)), __float2half_rn(1024.0f + offset));
}

// Weights e0 .. e0+7 of a row (e0 a multiple of 8) as eight f16 values, in order.
template <TensorType T>
__device__ __forceinline__ uint4 dequant8_f16(const uint8_t* row, int64_t e0) {
  if constexpr (T == TensorType::F16) {
    return *reinterpret_cast<const uint4*>(row + e0 * 2);
  } else {
    __half h[8];
    if constexpr (T == TensorType::F32 || T == TensorType::BF16) {
      float w[8];
      dequant8<T>(row, e0, w);  // exact widening
  #pragma unroll
      for (int i = 0; i < 8; ++i) h[i] = __float2half_rn(w[i]);
    } else if constexpr (T == TensorType::Q8_0 || T == TensorType::Q4_0) {
      constexpr bool kQ8 = T == TensorType::Q8_0;
      const uint8_t* b = row + (e0 / 32) * (kQ8 ? 34 : 18);
      const int within = static_cast<int>(e0 % 32);
      const __half d = __ushort_as_half(load_u16(b));
      uint32_t lo, hi;
      load8_align2(b + 2 + (kQ8 ? within : (within & 15)), lo, hi);
      const int shift = kQ8 || within < 16 ? 0 : 4;
  #pragma unroll
      for (int i = 0; i < 8; ++i) {
        const uint32_t byte = byte_of(lo, hi, i);
        const __half code = kQ8 ? small_code_half(byte ^ 0x80u, 128.0f) : small_code_half((byte >> shift) & 0xFu, 8.0f);
        h[i] = __hmul_rn(code, d);
      }
    } else if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K) {
      constexpr int kBytes = T == TensorType::Q4_K ? 144 : 176;
      constexpr int kQs = T == TensorType::Q4_K ? 16 : 48;
      const uint8_t* b = row + (e0 / 256) * kBytes;
      const int e = static_cast<int>(e0 % 256), j = e / 32, l0 = e % 32;
      int sc, m;
      scale_min_k4(j, b + 4, sc, m);
      const __half a = __float2half_rn(half_bits_to_float(load_u16(b)) * static_cast<float>(sc));  // exact product
      const __half mb = __float2half_rn(half_bits_to_float(load_u16(b + 2)) * static_cast<float>(m));
      const uint2 q = *reinterpret_cast<const uint2*>(b + kQs + 32 * (j / 2) + l0);
      const int shift = (j & 1) ? 4 : 0;
      uint2 qh = make_uint2(0, 0);
      if constexpr (T == TensorType::Q5_K) qh = *reinterpret_cast<const uint2*>(b + 16 + l0);
  #pragma unroll
      for (int i = 0; i < 8; ++i) {
        uint32_t code = (byte_of(q.x, q.y, i) >> shift) & 0xFu;
        if constexpr (T == TensorType::Q5_K) code |= ((byte_of(qh.x, qh.y, i) >> j) & 1u) << 4;
        h[i] = __hfma(small_code_half(code, 0.0f), a, __hneg(mb));
      }
    } else if constexpr (T == TensorType::Q6_K) {
      const uint8_t* b = row + (e0 / 256) * 210;
      const int e = static_cast<int>(e0 % 256);
      const int half = e / 128, within = e % 128, quarter = within / 32, l0 = within % 32;
      uint32_t ql_lo, ql_hi, qh_lo, qh_hi;
      load8_align2(b + 64 * half + l0 + 32 * (quarter & 1), ql_lo, ql_hi);
      load8_align2(b + 128 + 32 * half + l0, qh_lo, qh_hi);
      const float d = half_bits_to_float(load_u16(b + 208));
      const __half a = __float2half_rn(d * static_cast<float>(static_cast<int8_t>(b[192 + e / 16])));  // exact product
      const int lshift = quarter < 2 ? 0 : 4;
  #pragma unroll
      for (int i = 0; i < 8; ++i) {
        const uint32_t lo = (byte_of(ql_lo, ql_hi, i) >> lshift) & 0xFu;
        const uint32_t hi = (byte_of(qh_lo, qh_hi, i) >> (2 * quarter)) & 3u;
        h[i] = __hmul_rn(small_code_half(lo | (hi << 4), 32.0f), a);
      }
    }
    uint4 out;
    out.x = half2_as_u32(__halves2half2(h[0], h[1]));
    out.y = half2_as_u32(__halves2half2(h[2], h[3]));
    out.z = half2_as_u32(__halves2half2(h[4], h[5]));
    out.w = half2_as_u32(__halves2half2(h[6], h[7]));
    return out;
  }
}

// Weight e alone (rows whose width or alignment rules out groups of eight: only plain
// F32/F16/BF16 rows can be such).
template <TensorType T>
__device__ __forceinline__ __half dequant1_f16(const uint8_t* row, int64_t e) {
  if constexpr (T == TensorType::F16) {
    return __ushort_as_half(reinterpret_cast<const uint16_t*>(row)[e]);
  } else if constexpr (T == TensorType::F32 || T == TensorType::BF16) {
    return __float2half_rn(dequant1<T>(row, e));
  } else {
    const uint4 g = dequant8_f16<T>(row, e & ~int64_t{7});
    const uint32_t words[4] = {g.x, g.y, g.z, g.w};
    const uint32_t word = words[(e & 7) / 2];
    return __ushort_as_half(static_cast<unsigned short>((e & 1) ? word >> 16 : word & 0xFFFFu));
  }
}

}  // namespace greta::cuda
