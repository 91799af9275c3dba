#pragma once
// Device-side dequantization of the GGUF block formats.
//
// Every weight is produced with the same expression as quant/quant_formats.h (the CPU's
// reference), so the GPU sees the same f32 weights bit for bit:
//   Q8_0: d*q   Q4_0: d*(q-8)   Q4_K/Q5_K: fmaf(d*sc, q, -(dmin*m))   Q6_K: (d*sc)*(q-32)
// The products of scale terms are exact in f32, and the fused multiply-add is written
// out with fmaf, so compiler contraction cannot change a value.
//
// The unit of work is a group of 8 consecutive elements of a row (every block size is a
// multiple of 8). Blocks of Q8_0, Q4_0 and Q6_K are only 2-byte aligned inside a row, so
// their bytes are read 16 bits at a time; F32/F16/BF16 and the Q4_K/Q5_K code bytes are
// read with 8- and 16-byte loads.
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "greta/tensor_type.h"

namespace greta::cuda {

__device__ __forceinline__ float half_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_bits_to_float(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }

// The f32 value of a small integer code c (0 <= c < 2^23) minus `offset`, exactly: the
// code is placed in the mantissa of 2^23 and 2^23 + offset subtracted (both sides are
// integers below 2^24, so the difference is exact). Two full-rate ALU operations instead
// of an int-to-float conversion, which runs at a fraction of the FMA rate.
__device__ __forceinline__ float code_to_float(uint32_t c, float offset) {
  return __uint_as_float(0x4B000000u | c) - (8388608.0f + offset);
}

// code_to_float of byte i (0..3, a compile-time constant) of a word whose bytes are
// codes: one byte permute builds the float 2^23 + code directly.
template <int I>
__device__ __forceinline__ float byte_code_to_float(uint32_t word, float offset) {
  return __uint_as_float(__byte_perm(word, 0x4B000000u, 0x7540u | I)) - (8388608.0f + offset);
}

__device__ __forceinline__ uint16_t load_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }

// Eight bytes from a 2-byte aligned address, as two 32-bit words (byte i at bits 8*(i%4)).
__device__ __forceinline__ void load8_align2(const uint8_t* p, uint32_t& lo, uint32_t& hi) {
  const auto* h = reinterpret_cast<const uint16_t*>(p);
  lo = static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16);
  hi = static_cast<uint32_t>(h[2]) | (static_cast<uint32_t>(h[3]) << 16);
}

__device__ __forceinline__ uint32_t byte_of(uint32_t lo, uint32_t hi, int i) {
  return ((i < 4 ? lo : hi) >> (8 * (i & 3))) & 0xFFu;
}

// Six-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block (ggml's packing).
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// The block-format part of weights e0 .. e0+7 (e0 a multiple of 8): their codes and the
// exact f32 factors of their (sub-)block, w = fmaf(a, code − offset, −mb) with mb = 0
// except for Q4_K/Q5_K. Shared by the exact weights below and the f16 weights of
// cuda_dequant_f16.cuh, so both read the formats alike.
struct Codes8 {
  uint32_t code[8];
  float offset, a, mb;
};
template <TensorType T>
__device__ __forceinline__ Codes8 codes8(const uint8_t* row, int64_t e0) {
  Codes8 c;
  c.mb = 0.0f;
  if constexpr (T == TensorType::Q8_0 || T == TensorType::Q4_0) {
    constexpr bool kQ8 = T == TensorType::Q8_0;
    const uint8_t* b = row + (e0 / 32) * (kQ8 ? 34 : 18);
    const int within = static_cast<int>(e0 % 32);
    c.a = half_bits_to_float(load_u16(b));
    c.offset = kQ8 ? 128.0f : 8.0f;
    uint32_t lo, hi;
    load8_align2(b + 2 + (kQ8 ? within : (within & 15)), lo, hi);
    const int shift = kQ8 || within < 16 ? 0 : 4;
#pragma unroll
    for (int i = 0; i < 8; ++i)
      c.code[i] = kQ8 ? byte_of(lo, hi, i) ^ 0x80u : (byte_of(lo, hi, i) >> shift) & 0xFu;  // Q8_0: signed byte
  } else if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K) {
    constexpr int kBytes = T == TensorType::Q4_K ? 144 : 176;
    constexpr int kQs = T == TensorType::Q4_K ? 16 : 48;
    const uint8_t* b = row + (e0 / 256) * kBytes;
    const int e = static_cast<int>(e0 % 256), j = e / 32, l0 = e % 32;
    int sc, m;
    scale_min_k4(j, b + 4, sc, m);
    c.offset = 0.0f;
    c.a = half_bits_to_float(load_u16(b)) * static_cast<float>(sc);
    c.mb = half_bits_to_float(load_u16(b + 2)) * static_cast<float>(m);
    const uint2 q = *reinterpret_cast<const uint2*>(b + kQs + 32 * (j / 2) + l0);
    const int shift = (j & 1) ? 4 : 0;
    uint2 h = make_uint2(0, 0);
    if constexpr (T == TensorType::Q5_K) h = *reinterpret_cast<const uint2*>(b + 16 + l0);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      c.code[i] = (byte_of(q.x, q.y, i) >> shift) & 0xFu;
      if constexpr (T == TensorType::Q5_K) c.code[i] |= ((byte_of(h.x, h.y, i) >> j) & 1u) << 4;
    }
  } else if constexpr (T == TensorType::Q6_K) {
    const uint8_t* b = row + (e0 / 256) * 210;
    const int e = static_cast<int>(e0 % 256);
    const int half = e / 128, within = e % 128, quarter = within / 32, l0 = within % 32;
    uint32_t ql_lo, ql_hi, qh_lo, qh_hi;
    load8_align2(b + 64 * half + l0 + 32 * (quarter & 1), ql_lo, ql_hi);
    load8_align2(b + 128 + 32 * half + l0, qh_lo, qh_hi);
    c.offset = 32.0f;
    c.a = half_bits_to_float(load_u16(b + 208)) * static_cast<float>(static_cast<int8_t>(b[192 + e / 16]));
    const int lshift = quarter < 2 ? 0 : 4;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t lo = (byte_of(ql_lo, ql_hi, i) >> lshift) & 0xFu;
      const uint32_t hi = (byte_of(qh_lo, qh_hi, i) >> (2 * quarter)) & 3u;
      c.code[i] = lo | (hi << 4);
    }
  }
  return c;
}

// Weights e0 .. e0+7 of a row (e0 a multiple of 8) of format T.
template <TensorType T>
__device__ __forceinline__ void dequant8(const uint8_t* row, int64_t e0, float w[8]) {
  if constexpr (T == TensorType::F32) {
    const float4* p = reinterpret_cast<const float4*>(row + e0 * 4);
    const float4 a = p[0], b = p[1];
    w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w;
    w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
  } else if constexpr (T == TensorType::F16 || T == TensorType::BF16) {
    const uint4 v = *reinterpret_cast<const uint4*>(row + e0 * 2);
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint16_t a = static_cast<uint16_t>(words[i] & 0xFFFFu), b = static_cast<uint16_t>(words[i] >> 16);
      if constexpr (T == TensorType::F16) {
        w[2 * i] = half_bits_to_float(a);
        w[2 * i + 1] = half_bits_to_float(b);
      } else {
        w[2 * i] = bf16_bits_to_float(a);
        w[2 * i + 1] = bf16_bits_to_float(b);
      }
    }
  } else {
    const Codes8 c = codes8<T>(row, e0);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float q = code_to_float(c.code[i], c.offset);
      if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K)
        w[i] = fmaf(c.a, q, -c.mb);
      else
        w[i] = c.a * q;
    }
  }
}

// Weight e of a row, one at a time: the scalar path for rows whose width or alignment
// does not allow 8-wide vector loads (only F32/F16/BF16 rows can be such; quantized rows
// are whole blocks and take the dequant8 path).
template <TensorType T>
__device__ __forceinline__ float dequant1(const uint8_t* row, int64_t e) {
  if constexpr (T == TensorType::F32) {
    return reinterpret_cast<const float*>(row)[e];
  } else if constexpr (T == TensorType::F16) {
    return half_bits_to_float(reinterpret_cast<const uint16_t*>(row)[e]);
  } else if constexpr (T == TensorType::BF16) {
    return bf16_bits_to_float(reinterpret_cast<const uint16_t*>(row)[e]);
  } else {
    float w[8];
    dequant8<T>(row, e & ~int64_t{7}, w);
    return w[e & 7];
  }
}

template <TensorType T>
using TypeTag = std::integral_constant<TensorType, T>;

// Calls f(TypeTag<T>{}) with the compile-time format T of `type`; false if unsupported.
template <class F>
bool dispatch_type(TensorType type, F&& f) {
  switch (type) {
    case TensorType::F32: f(TypeTag<TensorType::F32>{}); return true;
    case TensorType::F16: f(TypeTag<TensorType::F16>{}); return true;
    case TensorType::BF16: f(TypeTag<TensorType::BF16>{}); return true;
    case TensorType::Q8_0: f(TypeTag<TensorType::Q8_0>{}); return true;
    case TensorType::Q4_0: f(TypeTag<TensorType::Q4_0>{}); return true;
    case TensorType::Q4_K: f(TypeTag<TensorType::Q4_K>{}); return true;
    case TensorType::Q5_K: f(TypeTag<TensorType::Q5_K>{}); return true;
    case TensorType::Q6_K: f(TypeTag<TensorType::Q6_K>{}); return true;
  }
  return false;
}

}  // namespace greta::cuda
