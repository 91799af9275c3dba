#pragma once
// The decode GEMV's pieces: the unit of weights one lane dequantizes at a time for the
// formats with their own layout (Q4_K, Q5_K, Q6_K, Q8_0), shared by the lane-strided
// kernel (cuda_matmul_gemv.cu) and the activation-stationary one
// (cuda_matmul_gemv_stationary.cu), so both see the same weights bit for bit. Each piece
// is 32 weights: load() fetches its raw bytes, x_vec() says where its activations lie,
// dot() accumulates the exact weights times the activations with fmaf.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_dequant.cuh"

namespace greta::cuda {

template <TensorType T>
struct Piece;

// The factors of sub-blocks 2g and 2g+1 of a Q4_K/Q5_K super-block from its first 16
// bytes: a = d*sc, b = dmin*m. The eight six-bit scales and mins are unpacked four at a
// time (scale_min_k4's packing, as in quant::k_quant_scale_bytes).
__device__ __forceinline__ void k_factors(const uint4& head, int g, float& a0, float& b0, float& a1, float& b1) {
  const float d = half_bits_to_float(static_cast<uint16_t>(head.x & 0xFFFFu));
  const float dmin = half_bits_to_float(static_cast<uint16_t>(head.x >> 16));
  const uint32_t sc_lo = head.y & 0x3F3F3F3Fu, m_lo = head.z & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (head.w & 0x0F0F0F0Fu) | ((head.y >> 2) & 0x30303030u);
  const uint32_t m_hi = ((head.w >> 4) & 0x0F0F0F0Fu) | ((head.z >> 2) & 0x30303030u);
  const uint32_t scw = g < 2 ? sc_lo : sc_hi, mw = g < 2 ? m_lo : m_hi;
  const int sh = 16 * (g & 1);
  a0 = d * code_to_float((scw >> sh) & 0xFFu, 0.0f);
  b0 = dmin * code_to_float((mw >> sh) & 0xFFu, 0.0f);
  a1 = d * code_to_float((scw >> (sh + 8)) & 0xFFu, 0.0f);
  b1 = dmin * code_to_float((mw >> (sh + 8)) & 0xFFu, 0.0f);
}

// The 32 weights of a Q4_K/Q5_K piece against its activations: codes lo (sub-block 2g)
// and hi (2g+1) four bytes at a time; kFifth ORs in the fifth bits of Q5_K (bit 2g of
// qh for lo, 2g+1 for hi).
template <bool kFifth>
__device__ __forceinline__ void k_dot(const uint4& q, const uint4& qh, const uint4& head, int g, const float xv[32],
                                      float& acc) {
  float a0, b0, a1, b1;
  k_factors(head, g, a0, b0, a1, b1);
  const uint32_t words[4] = {q.x, q.y, q.z, q.w}, hw[4] = {qh.x, qh.y, qh.z, qh.w};
#pragma unroll
  for (int v = 0; v < 4; ++v) {
    uint32_t lo = words[v] & 0x0F0F0F0Fu, hi = (words[v] >> 4) & 0x0F0F0F0Fu;
    if constexpr (kFifth) {
      lo |= ((hw[v] >> (2 * g)) & 0x01010101u) << 4;
      hi |= ((hw[v] >> (2 * g + 1)) & 0x01010101u) << 4;
    }
    const float* xl = xv + 4 * v;
    const float* xh = xv + 16 + 4 * v;
    acc = fmaf(fmaf(a0, byte_code_to_float<0>(lo, 0.0f), -b0), xl[0], acc);
    acc = fmaf(fmaf(a1, byte_code_to_float<0>(hi, 0.0f), -b1), xh[0], acc);
    acc = fmaf(fmaf(a0, byte_code_to_float<1>(lo, 0.0f), -b0), xl[1], acc);
    acc = fmaf(fmaf(a1, byte_code_to_float<1>(hi, 0.0f), -b1), xh[1], acc);
    acc = fmaf(fmaf(a0, byte_code_to_float<2>(lo, 0.0f), -b0), xl[2], acc);
    acc = fmaf(fmaf(a1, byte_code_to_float<2>(hi, 0.0f), -b1), xh[2], acc);
    acc = fmaf(fmaf(a0, byte_code_to_float<3>(lo, 0.0f), -b0), xl[3], acc);
    acc = fmaf(fmaf(a1, byte_code_to_float<3>(hi, 0.0f), -b1), xh[3], acc);
  }
}

// Q4_K and Q5_K share the layout of pieces: piece p of a row is sub-block pair g of
// super-block p/8, half h. Its activations as 8 float4: [v] = elements 64g + 16h + 4v
// .. +3 (low nibbles), [4 + v] = elements 64g + 32 + 16h + 4v .. +3 (high nibbles).
struct KPieceLayout {
  static constexpr int kElems = 32;
  __device__ static const float* x_vec(const float* x, int64_t p, int v) {
    const int sub = static_cast<int>(p % 8), g = sub / 2, h = sub % 2;
    return x + (p / 8) * 256 + 64 * g + 16 * h + 32 * (v / 4) + 4 * (v % 4);
  }
  // The inverse: which piece and float4 of it element e (a multiple of 4) belongs to.
  __device__ static void x_slot(int64_t e, int64_t& p, int& v) {
    const int r = static_cast<int>(e % 256), g = r / 64, hi = (r % 64) / 32, t = r % 32;
    p = (e / 256) * 8 + 2 * g + t / 16;
    v = 4 * hi + (t % 16) / 4;
  }
};

// Q4_K: a piece is one 16-byte load of codes = 16 low nibbles of sub-block 2g and the 16
// high nibbles of sub-block 2g+1 at the same offsets, so no code byte is read twice.
template <>
struct Piece<TensorType::Q4_K> : KPieceLayout {
  struct Raw {
    uint4 q, head;  // codes; d, dmin and the 12 bytes of scales
  };
  __device__ static Raw load(const uint8_t* row, int64_t p) {
    const uint8_t* b = row + (p / 8) * 144;
    const int sub = static_cast<int>(p % 8), g = sub / 2, h = sub % 2;
    Raw r;
    r.head = __ldg(reinterpret_cast<const uint4*>(b));
    r.q = __ldg(reinterpret_cast<const uint4*>(b + 16 + 32 * g + 16 * h));
    return r;
  }
  __device__ static void dot(const Raw& r, int64_t p, const float xv[32], float& acc) {
    k_dot<false>(r.q, r.q, r.head, static_cast<int>(p % 8) / 2, xv, acc);
  }
};

// Q5_K: as Q4_K, plus the 16 bytes of qh at offset 16h, whose bits 2g and 2g+1 are the
// fifth bits of the piece's two sub-blocks (each qh byte serves both).
template <>
struct Piece<TensorType::Q5_K> : KPieceLayout {
  struct Raw {
    uint4 q, qh, head;
  };
  __device__ static Raw load(const uint8_t* row, int64_t p) {
    const uint8_t* b = row + (p / 8) * 176;
    const int sub = static_cast<int>(p % 8), g = sub / 2, h = sub % 2;
    Raw r;
    r.head = __ldg(reinterpret_cast<const uint4*>(b));
    r.qh = __ldg(reinterpret_cast<const uint4*>(b + 16 + 16 * h));
    r.q = __ldg(reinterpret_cast<const uint4*>(b + 48 + 32 * g + 16 * h));
    return r;
  }
  __device__ static void dot(const Raw& r, int64_t p, const float xv[32], float& acc) {
    k_dot<true>(r.q, r.qh, r.head, static_cast<int>(p % 8) / 2, xv, acc);
  }
};

// Q8_0: a piece is one 34-byte block (f16 scale, 32 signed codes). Blocks are only
// 2-byte aligned, but in rows of an even number of blocks (4-byte aligned) block p
// starts 2*(p&1) bytes past a 4-byte boundary, so nine aligned words from there hold it
// (an even block's ninth word also takes the next block's scale: never past the row,
// whose last block is odd). One funnel shift per word realigns the codes.
template <>
struct Piece<TensorType::Q8_0> {
  static constexpr int kElems = 32;
  struct Raw {
    uint32_t w[9];
  };
  __device__ static Raw load(const uint8_t* row, int64_t p) {
    const auto* a = reinterpret_cast<const uint32_t*>(row + p * 34 - 2 * (p & 1));
    Raw r;
#pragma unroll
    for (int i = 0; i < 9; ++i) r.w[i] = __ldg(a + i);
    return r;
  }
  // The activations of piece p as 8 float4: [v] = elements 32p + 4v .. +3.
  __device__ static const float* x_vec(const float* x, int64_t p, int v) { return x + p * 32 + 4 * v; }
  __device__ static void x_slot(int64_t e, int64_t& p, int& v) {
    p = e / 32;
    v = static_cast<int>(e % 32) / 4;
  }
  __device__ static void dot(const Raw& r, int64_t p, const float xv[32], float& acc) {
    const bool odd = (p & 1) != 0;
    const float d = half_bits_to_float(static_cast<uint16_t>(odd ? r.w[0] >> 16 : r.w[0] & 0xFFFFu));
    const uint32_t shift = odd ? 32 : 16;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      // Codes 4j .. 4j+3, each flipped to an unsigned byte (as dequant8 reads a signed byte).
      const uint32_t q = __funnelshift_rc(r.w[j], r.w[j + 1], shift) ^ 0x80808080u;
      acc = fmaf(d * byte_code_to_float<0>(q, 128.0f), xv[4 * j], acc);
      acc = fmaf(d * byte_code_to_float<1>(q, 128.0f), xv[4 * j + 1], acc);
      acc = fmaf(d * byte_code_to_float<2>(q, 128.0f), xv[4 * j + 2], acc);
      acc = fmaf(d * byte_code_to_float<3>(q, 128.0f), xv[4 * j + 3], acc);
    }
  }
};

// Q6_K: a piece is 8 consecutive l of one 128-element half across its four quarters
// (32 elements): 8 bytes of each ql run and 8 bytes of qh, each byte used in full. The
// block is only 2-byte aligned, so the 24 bytes come in 16-bit loads.
template <>
struct Piece<TensorType::Q6_K> {
  static constexpr int kElems = 32;
  struct Raw {
    uint32_t la_lo, la_hi, lb_lo, lb_hi, h_lo, h_hi;
    uint16_t d;
    int8_t sc[4];
  };
  __device__ static Raw load(const uint8_t* row, int64_t p) {
    const uint8_t* b = row + (p / 8) * 210;
    const int sub = static_cast<int>(p % 8), half = sub / 4, l0 = (sub % 4) * 8;
    Raw r;
    load8_align2(b + 64 * half + l0, r.la_lo, r.la_hi);       // quarters 0 (low nibble) and 2 (high)
    load8_align2(b + 64 * half + 32 + l0, r.lb_lo, r.lb_hi);  // quarters 1 and 3
    load8_align2(b + 128 + 32 * half + l0, r.h_lo, r.h_hi);   // two high bits of each quarter
    r.d = load_u16(b + 208);
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * half + l0 / 16;
#pragma unroll
    for (int q = 0; q < 4; ++q) r.sc[q] = sc[2 * q];
    return r;
  }
  // The activations of piece p as 8 float4: [2q + j] = elements 128*half + 32q + l0 + 4j .. +3.
  __device__ static const float* x_vec(const float* x, int64_t p, int v) {
    const int sub = static_cast<int>(p % 8), half = sub / 4, l0 = (sub % 4) * 8;
    return x + (p / 8) * 256 + 128 * half + 32 * (v / 2) + l0 + 4 * (v % 2);
  }
  __device__ static void x_slot(int64_t e, int64_t& p, int& v) {
    const int r = static_cast<int>(e % 256), half = r / 128, q = (r % 128) / 32, l = r % 32;
    p = (e / 256) * 8 + 4 * half + l / 8;
    v = 2 * q + (l % 8) / 4;
  }
  __device__ static void dot(const Raw& r, int64_t, const float xv[32], float& acc) {
    const float d = half_bits_to_float(r.d);
    float a[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) a[q] = d * static_cast<float>(r.sc[q]);
    // The six-bit codes of four quarters, four bytes at a time (q6_k_code's layout).
    const uint32_t las[2] = {r.la_lo, r.la_hi}, lbs[2] = {r.lb_lo, r.lb_hi}, hs[2] = {r.h_lo, r.h_hi};
#pragma unroll
    for (int w = 0; w < 2; ++w) {
      const uint32_t q0 = (las[w] & 0x0F0F0F0Fu) | ((hs[w] & 0x03030303u) << 4);
      const uint32_t q1 = (lbs[w] & 0x0F0F0F0Fu) | ((hs[w] & 0x0C0C0C0Cu) << 2);
      const uint32_t q2 = ((las[w] >> 4) & 0x0F0F0F0Fu) | (hs[w] & 0x30303030u);
      const uint32_t q3 = ((lbs[w] >> 4) & 0x0F0F0F0Fu) | ((hs[w] >> 2) & 0x30303030u);
      const float* x = xv + 4 * w;
      acc = fmaf(a[0] * byte_code_to_float<0>(q0, 32.0f), x[0], acc);
      acc = fmaf(a[1] * byte_code_to_float<0>(q1, 32.0f), x[8], acc);
      acc = fmaf(a[2] * byte_code_to_float<0>(q2, 32.0f), x[16], acc);
      acc = fmaf(a[3] * byte_code_to_float<0>(q3, 32.0f), x[24], acc);
      acc = fmaf(a[0] * byte_code_to_float<1>(q0, 32.0f), x[1], acc);
      acc = fmaf(a[1] * byte_code_to_float<1>(q1, 32.0f), x[9], acc);
      acc = fmaf(a[2] * byte_code_to_float<1>(q2, 32.0f), x[17], acc);
      acc = fmaf(a[3] * byte_code_to_float<1>(q3, 32.0f), x[25], acc);
      acc = fmaf(a[0] * byte_code_to_float<2>(q0, 32.0f), x[2], acc);
      acc = fmaf(a[1] * byte_code_to_float<2>(q1, 32.0f), x[10], acc);
      acc = fmaf(a[2] * byte_code_to_float<2>(q2, 32.0f), x[18], acc);
      acc = fmaf(a[3] * byte_code_to_float<2>(q3, 32.0f), x[26], acc);
      acc = fmaf(a[0] * byte_code_to_float<3>(q0, 32.0f), x[3], acc);
      acc = fmaf(a[1] * byte_code_to_float<3>(q1, 32.0f), x[11], acc);
      acc = fmaf(a[2] * byte_code_to_float<3>(q2, 32.0f), x[19], acc);
      acc = fmaf(a[3] * byte_code_to_float<3>(q3, 32.0f), x[27], acc);
    }
  }
};

}  // namespace greta::cuda
