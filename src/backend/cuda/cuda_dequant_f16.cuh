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
    } else {
      const Codes8 c = codes8<T>(row, e0);
      const __half a = __float2half_rn(c.a), mb = __float2half_rn(c.mb);  // exact products, rounded once
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const __half q = small_code_half(c.code[i], c.offset);
        if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K)
          h[i] = __hfma(q, a, __hneg(mb));
        else
          h[i] = __hmul_rn(q, a);
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
