#pragma once
// The pieces of the fast precision's one-token products on tensor cores, shared by the
// GEMV kernels (cuda_gemv_f16.cu) and the decode chain (cuda_decode_chain.cu): the
// formats (how a row's bytes become f16 weight pairs and mmas), the staged activations,
// the shared-memory ring's sizes, the product groups and the tile ends. Every kernel
// that uses them sums a row in the same order, so a row has the same bits in each.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_dequant_f16.cuh"
#include "backend/cuda/cuda_device_limits.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_mbarrier.cuh"
#include "backend/cuda/cuda_mma.cuh"
#include "backend/cuda/cuda_norm_parts.cuh"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_row_ops.cuh"
#include "backend/cuda/cuda_tensor_map.h"

namespace greta::cuda {
namespace {
using mma::mma_16816;
using mma::pack_half2;

constexpr uint32_t kHalf1024x2 = 0x64006400u;  // f16 1024 in both halves

// Where a format's loads read: global memory through the read-only path, or a stage of
// the streamed kernel's shared-memory ring (plain loads).
struct FromGlobal {
  static constexpr bool kRing = false;
  __device__ __forceinline__ static uint4 u128(const uint8_t* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }
  __device__ __forceinline__ static uint32_t u32(const uint32_t* p) { return __ldg(p); }
  __device__ __forceinline__ static uint32_t u16(const uint8_t* p) { return __ldg(reinterpret_cast<const uint16_t*>(p)); }
};
struct FromShared {
  // A stage's rows start 4-byte aligned and end in 16 bytes of padding (reads past a
  // block's last byte stay inside the stage).
  static constexpr bool kRing = true;
  __device__ __forceinline__ static uint4 u128(const uint8_t* p) { return *reinterpret_cast<const uint4*>(p); }
  __device__ __forceinline__ static uint32_t u32(const uint32_t* p) { return *p; }
  __device__ __forceinline__ static uint32_t u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
};

// (a & kMask) | c as one LOP3. Written in C++, a mask and a constant both given as
// immediates become two LOP3s (one immediate an instruction), and LOP3 issues at half
// rate: most of a weight's integer work.
template <uint32_t kMask>
__device__ __forceinline__ uint32_t and_or(uint32_t a, uint32_t c) {
  uint32_t r;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(a), "n"(kMask), "r"(c));
  return r;
}
template <uint32_t kMask, uint32_t kBits>
__device__ __forceinline__ uint32_t and_or(uint32_t a) {
  uint32_t r;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(a), "n"(kMask), "n"(kBits));
  return r;
}

// The four-bit codes at bits [shift, shift + 4) of each 16-bit half of `word` as an exact
// f16 pair: 0x6400 | c is 1024 + c, then 1024 is subtracted.
__device__ __forceinline__ __half2 codes4(uint32_t word, int shift) {
  return __hsub2_rn(u32_as_half2(and_or<0x000F000Fu, kHalf1024x2>(word >> shift)), u32_as_half2(kHalf1024x2));
}
// The codes at bits 4-7 of each half without a shift: 0x5400 | (c << 4) is the f16 64 + c
// (under the exponent of 64, mantissa bit 4 is worth 1), then 64 is subtracted. With
// codes4(w, 0) and both for w >> 8, a word's four code pairs take one shift, not three.
constexpr uint32_t kHalf64x2 = 0x54005400u;  // f16 64 in both halves
__device__ __forceinline__ __half2 codes4_high(uint32_t word) {
  return __hsub2_rn(u32_as_half2(and_or<0x00F000F0u, kHalf64x2>(word)), u32_as_half2(kHalf64x2));
}

// Eight bytes from a 2-byte aligned address, kept as three aligned words so that the loads
// can be in flight while the warp does other work; join8 realigns them.
struct Raw8 {
  uint32_t w0, w1, w2, shift;
};
// w: the word at or just below the eight bytes, shift: 16 when they start 2 bytes past it.
template <class M>
__device__ __forceinline__ Raw8 load8_words(const uint32_t* w, uint32_t shift) {
  Raw8 r;
  r.shift = shift;
  r.w0 = M::u32(w);
  r.w1 = M::u32(w + 1);
  r.w2 = M::kRing || shift ? M::u32(w + 2) : 0u;  // in global memory never past the eight bytes' last word
  return r;
}
__device__ __forceinline__ uint2 join8(const Raw8& r) {
  return make_uint2(__funnelshift_r(r.w0, r.w1, r.shift), __funnelshift_r(r.w1, r.w2, r.shift));
}

// A step's mmas go round four accumulators (mma m into m % 4), so that a warp's mmas are
// four dependent chains instead of one; they are added at the end of a row's steps. The
// chains' latency, not the warp's instruction count, is what a consumer step waits on.
// (The streamed kernel, H100, tg128 of the 8B q4_k_m: one chain 308.9 / 307.9, two 318.8 /
// 322.5, four 316.6 / 315.4 at e5c1100; at 4550e2d four against two gained in six rounds
// of six, two calls: 433.6 / 436.9 / 436.5 → 440.6 / 440.2 / 440.8 and 439.1 / 437.2 /
// 438.5 → 442.0 / 439.7 / 440.8.)
constexpr int kAccs = 4;
__device__ __forceinline__ float combine(const float (&acc)[kAccs][4], int i) {
  float v = acc[0][i];
#pragma unroll
  for (int a = 1; a < kAccs; ++a) v += acc[a][i];
  return v;
}
__device__ __forceinline__ void zero(float (&acc)[kAccs][4]) {
#pragma unroll
  for (int a = 0; a < kAccs; ++a) acc[a][0] = acc[a][1] = acc[a][2] = acc[a][3] = 0.0f;
}

// ---- formats --------------------------------------------------------------------------
// Each format F gives: kStep (weights of a row per step), Raw (one row's bytes of one
// step for lane quad q), load(row, step, q), group(m, q) (which float4 of the step's
// activations feeds mma m of quad q), kPairStride (the B pair of a float4 (x0, x2), (x1, x3)
// for 2, (x0, x1), (x2, x3) for 1) and step(): the mmas of one step; and the kernels'
// choices for it: kChunkSteps (a ring stage), kStreamAhead (the persistent kernel's loads
// ahead), kPrefetchNext (whether a streamed launch prefetches the next product),
// kRingMaps (whether a streamed launch copies a stage as one tensor copy).

// Q4_K: a step is a super-block; quad q takes code bytes 32q..32q+31 (low nibbles:
// sub-block 2q, high: 2q+1). Word i of them gives the pairs (4i, 4i+2), (4i+1, 4i+3) of
// either sub-block.
struct Q4K {
  static constexpr int kStep = 256, kMmas = 16, kPairStride = 2;
  static constexpr int64_t kBlockBytes = 144;
  static constexpr int kChunkSteps = 8, kChunkRowBytes = 8 * 144;  // streamed kernel: 8 super-blocks a copy
  static constexpr int kStreamAhead = 2;  // persistent kernel: loads in flight ahead of the mmas
  static constexpr bool kPrefetchNext = true;  // streamed kernel: the next product's first tile into L2
  // Streamed kernel: a stage as one tensor copy (ring_maps) instead of a bulk copy a row.
  // Only Q8_0 gains (H200, 8B tg128: q8_0 +16.5%); Q4_K -4%, Q5_K -6%, Q6_K -1%, Q4_0 the same.
  static constexpr bool kRingMaps = false;
  struct Raw {
    uint4 head, c0, c1;
  };
  template <class M = FromGlobal>
  __device__ __forceinline__ static Raw load(const uint8_t* row, int64_t s, int q) {
    const uint8_t* b = row + s * kBlockBytes;
    return Raw{M::u128(b), M::u128(b + 16 + 32 * q), M::u128(b + 32 + 32 * q)};
  }
  // mma m = 2i + h: word i, low (h = 0) or high nibbles; activations k = 64q + 32h + 4i ...
  __device__ __forceinline__ static int group(int m, int q) { return 16 * q + 8 * (m & 1) + (m >> 1); }
  // (a, m) of sub-blocks 2q and 2q+1: a = rn(d·sc), m = rn(dmin·mn), as half2 pairs.
  __device__ __forceinline__ static void factors(const uint4& h, int q, __half2& a, __half2& mn) {
    const bool lo = q < 2;
    const uint32_t scw = lo ? (h.y & 0x3F3F3F3Fu) : and_or<0x0F0F0F0Fu>(h.w, (h.y >> 2) & 0x30303030u);
    const uint32_t mw = lo ? (h.z & 0x3F3F3F3Fu) : and_or<0x0F0F0F0Fu>(h.w >> 4, (h.z >> 2) & 0x30303030u);
    const uint32_t sel = (q & 1) ? 0x4342u : 0x4140u;  // bytes 2(q&1), 2(q&1)+1 under an f16 1024
    const __half2 k1024 = u32_as_half2(kHalf1024x2), dd = u32_as_half2(h.x);
    a = __hmul2_rn(__hsub2_rn(u32_as_half2(__byte_perm(scw, 0x64646464u, sel)), k1024), __low2half2(dd));
    mn = __hmul2_rn(__hsub2_rn(u32_as_half2(__byte_perm(mw, 0x64646464u, sel)), k1024), __high2half2(dd));
  }
  template <class X>
  __device__ __forceinline__ static void step(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q, float (&acc)[kAccs][4]) {
    __half2 aa, ma, ab, mb;
    factors(ra.head, q, aa, ma);
    factors(rb.head, q, ab, mb);
    const __half2 a0 = __low2half2(aa), a1 = __high2half2(aa), n0 = __hneg2(__low2half2(ma)), n1 = __hneg2(__high2half2(ma));
    const __half2 b0 = __low2half2(ab), b1 = __high2half2(ab), p0 = __hneg2(__low2half2(mb)), p1 = __hneg2(__high2half2(mb));
    const uint32_t wa[8] = {ra.c0.x, ra.c0.y, ra.c0.z, ra.c0.w, ra.c1.x, ra.c1.y, ra.c1.z, ra.c1.w};
    const uint32_t wb[8] = {rb.c0.x, rb.c0.y, rb.c0.z, rb.c0.w, rb.c1.x, rb.c1.y, rb.c1.z, rb.c1.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint2 xl = x.get(s, 2 * i, q), xh = x.get(s, 2 * i + 1, q);
      const uint32_t wa8 = wa[i] >> 8, wb8 = wb[i] >> 8;
      const uint32_t fl[4] = {half2_as_u32(__hfma2(codes4(wa[i], 0), a0, n0)), half2_as_u32(__hfma2(codes4(wb[i], 0), b0, p0)),
                              half2_as_u32(__hfma2(codes4(wa8, 0), a0, n0)), half2_as_u32(__hfma2(codes4(wb8, 0), b0, p0))};
      mma_16816(acc[(2 * i) % kAccs], fl, xl.x, xl.y);
      const uint32_t fh[4] = {half2_as_u32(__hfma2(codes4_high(wa[i]), a1, n1)), half2_as_u32(__hfma2(codes4_high(wb[i]), b1, p1)),
                              half2_as_u32(__hfma2(codes4_high(wa8), a1, n1)), half2_as_u32(__hfma2(codes4_high(wb8), b1, p1))};
      mma_16816(acc[(2 * i + 1) % kAccs], fh, xh.x, xh.y);
    }
  }
};

// Q5_K: Q4_K's super-block with a fifth bit a weight: the same head (d, dmin, the packed
// scales and mins, so the same factors), then qh (bit j of byte l: weight l of sub-block
// j), then the codes. Quad q reads Q4_K's code bytes and all of qh; with qh's word i
// shifted right by 2q, its bits 2q and 2q + 1 land by one shift a place under the codes:
// 16 + c (low nibbles, 1024 + c + 16h built exactly) or under the exponent of 64 at bit 8.
// The weights are Q4_K's formula, rn(q·a − m), as in cuda_dequant_f16.cuh.
struct Q5K {
  static constexpr int kStep = 256, kMmas = 16, kPairStride = 2;
  static constexpr int64_t kBlockBytes = 176;
  static constexpr int kChunkSteps = 8, kChunkRowBytes = 8 * 176;  // 16-byte multiple
  static constexpr int kStreamAhead = 0;  // no persistent kernel: the streamed one or the tile kernel
  static constexpr bool kPrefetchNext = true;
  static constexpr bool kRingMaps = false;
  struct Raw {
    uint4 head, h0, h1, c0, c1;
  };
  template <class M = FromGlobal>
  __device__ __forceinline__ static Raw load(const uint8_t* row, int64_t s, int q) {
    const uint8_t* b = row + s * kBlockBytes;
    return Raw{M::u128(b), M::u128(b + 16), M::u128(b + 32), M::u128(b + 48 + 32 * q), M::u128(b + 64 + 32 * q)};
  }
  __device__ __forceinline__ static int group(int m, int q) { return Q4K::group(m, q); }
  // Codes at bits 0-3 of each half with the fifth bit h at bit 4, and codes at bits 4-7
  // with it at bit 8 (64 + c + 16h under the exponent of 64), as exact f16 pairs.
  __device__ __forceinline__ static __half2 low(uint32_t w, uint32_t h) {
    return __hsub2_rn(u32_as_half2(and_or<0x000F000Fu>(w, and_or<0x00100010u, kHalf1024x2>(h))),
                      u32_as_half2(kHalf1024x2));
  }
  __device__ __forceinline__ static __half2 high(uint32_t w, uint32_t h) {
    return __hsub2_rn(u32_as_half2(and_or<0x00F000F0u>(w, and_or<0x01000100u, kHalf64x2>(h))), u32_as_half2(kHalf64x2));
  }
  template <class X>
  __device__ __forceinline__ static void step(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q, float (&acc)[kAccs][4]) {
    __half2 aa, ma, ab, mb;
    Q4K::factors(ra.head, q, aa, ma);
    Q4K::factors(rb.head, q, ab, mb);
    const __half2 a0 = __low2half2(aa), a1 = __high2half2(aa), n0 = __hneg2(__low2half2(ma)), n1 = __hneg2(__high2half2(ma));
    const __half2 b0 = __low2half2(ab), b1 = __high2half2(ab), p0 = __hneg2(__low2half2(mb)), p1 = __hneg2(__high2half2(mb));
    const uint32_t wa[8] = {ra.c0.x, ra.c0.y, ra.c0.z, ra.c0.w, ra.c1.x, ra.c1.y, ra.c1.z, ra.c1.w};
    const uint32_t wb[8] = {rb.c0.x, rb.c0.y, rb.c0.z, rb.c0.w, rb.c1.x, rb.c1.y, rb.c1.z, rb.c1.w};
    const uint32_t ha[8] = {ra.h0.x, ra.h0.y, ra.h0.z, ra.h0.w, ra.h1.x, ra.h1.y, ra.h1.z, ra.h1.w};
    const uint32_t hb[8] = {rb.h0.x, rb.h0.y, rb.h0.z, rb.h0.w, rb.h1.x, rb.h1.y, rb.h1.z, rb.h1.w};
    const uint32_t sh = 2u * static_cast<uint32_t>(q);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint2 xl = x.get(s, 2 * i, q), xh = x.get(s, 2 * i + 1, q);
      const uint32_t wa8 = wa[i] >> 8, wb8 = wb[i] >> 8, sa = ha[i] >> sh, sb = hb[i] >> sh;
      // Bytes 0 and 2 (weights 4i, 4i + 2), then 1 and 3 (4i + 1, 4i + 3), of sub-block 2q.
      const uint32_t fl[4] = {half2_as_u32(__hfma2(low(wa[i], sa << 4), a0, n0)), half2_as_u32(__hfma2(low(wb[i], sb << 4), b0, p0)),
                              half2_as_u32(__hfma2(low(wa8, sa >> 4), a0, n0)), half2_as_u32(__hfma2(low(wb8, sb >> 4), b0, p0))};
      mma_16816(acc[(2 * i) % kAccs], fl, xl.x, xl.y);
      // The same bytes' high nibbles: sub-block 2q + 1, whose bit is 2q + 1.
      const uint32_t fh[4] = {half2_as_u32(__hfma2(high(wa[i], sa << 7), a1, n1)), half2_as_u32(__hfma2(high(wb[i], sb << 7), b1, p1)),
                              half2_as_u32(__hfma2(high(wa8, sa >> 1), a1, n1)), half2_as_u32(__hfma2(high(wb8, sb >> 1), b1, p1))};
      mma_16816(acc[(2 * i + 1) % kAccs], fh, xh.x, xh.y);
    }
  }
};

// Q6_K: a step is half a super-block (128 weights, h = s % 2); quad q takes l = 8q..8q+7
// of its ql bytes at 64h + l (quarters 0 and 2) and 64h + 32 + l (quarters 1 and 3) and qh
// bytes 32h + l (two bits per quarter). Blocks are 210 bytes, so only 2-byte aligned.
struct Q6K {
  static constexpr int kStep = 128, kMmas = 8, kPairStride = 2;
  static constexpr int64_t kBlockBytes = 210;
  static constexpr int kChunkSteps = 16, kChunkRowBytes = 8 * 210;  // 8 super-blocks: 16-byte multiple
  // No persistent kernel: two loads ahead spill at its 128 registers, one gained nothing.
  static constexpr int kStreamAhead = 0;
  static constexpr bool kPrefetchNext = true;
  static constexpr bool kRingMaps = false;
  struct Raw {
    Raw8 a, b, h, sc;
    uint32_t d;
  };
  template <class M = FromGlobal>
  __device__ __forceinline__ static Raw load(const uint8_t* row, int64_t s, int q) {
    const uint8_t* blk = row + (s >> 1) * kBlockBytes;
    const int h = static_cast<int>(s & 1), l = 8 * q;
    Raw r;
    // Every piece read sits a multiple of 8 bytes into the block, so all share the block's
    // misalignment: in a ring stage (rows 4-byte aligned) the parity of the block's index.
    // Stepping back by pointer arithmetic (not through an integer) keeps the address
    // space, so a stage is read with LDS, not generic loads.
    const uint32_t mis = M::kRing ? static_cast<uint32_t>((s >> 1) & 1) * 2
                                  : static_cast<uint32_t>(reinterpret_cast<uintptr_t>(blk) & 2);
    const uint32_t* w = reinterpret_cast<const uint32_t*>(blk - mis);
    r.a = load8_words<M>(w + (64 * h + l) / 4, mis * 8);
    r.b = load8_words<M>(w + (64 * h + 32 + l) / 4, mis * 8);
    r.h = load8_words<M>(w + (128 + 32 * h + l) / 4, mis * 8);
    r.sc = load8_words<M>(w + (192 + 8 * h) / 4, mis * 8);
    r.d = M::u16(blk + 208);
    return r;
  }
  // mma m = 2c + wi: quarter c, word wi; activations k = 32c + 8q + 4wi.
  __device__ __forceinline__ static int group(int m, int q) { return 8 * (m >> 1) + 2 * q + (m & 1); }
  // a = rn(d·sc) of quarters (0, 1) and (2, 3): scale bytes q/2 + 2c of the half's eight.
  __device__ __forceinline__ static void factors(const Raw& r, int q, __half2& a01, __half2& a23) {
    const uint2 sc = join8(r.sc);
    const uint32_t b = static_cast<uint32_t>(q >> 1);
    const uint32_t sel = b | 0x40u | ((b + 2) << 8) | 0x4000u;
    const __half2 off = __floats2half2_rn(1152.0f, 1152.0f);  // 1024 + 128: signed bytes
    const __half2 dd = __half2half2(__ushort_as_half(static_cast<unsigned short>(r.d)));
    a01 = __hmul2_rn(__hsub2_rn(u32_as_half2(__byte_perm(sc.x ^ 0x80808080u, 0x64646464u, sel)), off), dd);
    a23 = __hmul2_rn(__hsub2_rn(u32_as_half2(__byte_perm(sc.y ^ 0x80808080u, 0x64646464u, sel)), off), dd);
  }
  // The high two bits of the four quarters of a qh word, shifted so that one mask puts
  // them under the codes: quarters 0 and 1 (codes at bits 0-3) want them at bits 4-5,
  // quarters 2 and 3 (codes at bits 4-7, read under the exponent of 64) at bits 8-9; the
  // bytes 1 and 3 of a word (r4, r6) as the bytes 0 and 2 (s4, s2). Four shifts a word.
  struct HighBits {
    uint32_t s4, s2, r4, r6;
  };
  __device__ __forceinline__ static HighBits high_bits(uint32_t qh) { return {qh << 4, qh << 2, qh >> 4, qh >> 6}; }
  // The f16 pair (q−32)·a of quarter c of bytes 0 and 2 (`upper` false) or 1 and 3 of a
  // word, `ql8` = ql >> 8: 1024 + q or 64 + q built exactly, 1056 or 96 subtracted.
  __device__ __forceinline__ static uint32_t pair(uint32_t ql, uint32_t ql8, const HighBits& h, int c, bool upper,
                                                  __half2 a) {
    const uint32_t codes = upper ? ql8 : ql;
    const uint32_t hb = upper ? ((c & 1) ? h.r6 : h.r4) : ((c & 1) ? h.s2 : h.s4);
    const uint32_t bits = c < 2 ? and_or<0x00300030u>(hb, and_or<0x000F000Fu, kHalf1024x2>(codes))
                                : and_or<0x03000300u>(hb, and_or<0x00F000F0u, kHalf64x2>(codes));
    const __half2 off = c < 2 ? __floats2half2_rn(1056.0f, 1056.0f) : __floats2half2_rn(96.0f, 96.0f);
    return half2_as_u32(__hmul2_rn(__hsub2_rn(u32_as_half2(bits), off), a));
  }
  template <class X>
  __device__ __forceinline__ static void step(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q, float (&acc)[kAccs][4]) {
    __half2 fa[2], fb[2];
    factors(ra, q, fa[0], fa[1]);
    factors(rb, q, fb[0], fb[1]);
    const uint2 la = join8(ra.a), lb = join8(ra.b), ha = join8(ra.h);
    const uint2 mla = join8(rb.a), mlb = join8(rb.b), mha = join8(rb.h);
#pragma unroll
    for (int wi = 0; wi < 2; ++wi) {
      const uint32_t qa = wi ? la.y : la.x, qb = wi ? lb.y : lb.x;
      const uint32_t ra_ = wi ? mla.y : mla.x, rb_ = wi ? mlb.y : mlb.x;
      const HighBits hq = high_bits(wi ? ha.y : ha.x), hr = high_bits(wi ? mha.y : mha.x);
      const uint32_t qa8 = qa >> 8, qb8 = qb >> 8, ra8 = ra_ >> 8, rb8 = rb_ >> 8;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        // quarter c: low nibbles (c < 2) or high nibbles of ql range a (c even) or b (c odd)
        const uint32_t qlw = (c & 1) ? qb : qa, rlw = (c & 1) ? rb_ : ra_;
        const uint32_t qlw8 = (c & 1) ? qb8 : qa8, rlw8 = (c & 1) ? rb8 : ra8;
        const __half2 aa = (c >> 1) ? ((c & 1) ? __high2half2(fa[1]) : __low2half2(fa[1]))
                                    : ((c & 1) ? __high2half2(fa[0]) : __low2half2(fa[0]));
        const __half2 ab = (c >> 1) ? ((c & 1) ? __high2half2(fb[1]) : __low2half2(fb[1]))
                                    : ((c & 1) ? __high2half2(fb[0]) : __low2half2(fb[0]));
        const uint32_t f[4] = {pair(qlw, qlw8, hq, c, false, aa), pair(rlw, rlw8, hr, c, false, ab),
                               pair(qlw, qlw8, hq, c, true, aa), pair(rlw, rlw8, hr, c, true, ab)};
        const uint2 xv = x.get(s, 2 * c + wi, q);
        mma_16816(acc[(4 * wi + c) % kAccs], f, xv.x, xv.y);
      }
    }
  }
};

// F16: a step is 128 weights; quad q takes 32q..32q+31 as four 16-byte loads, pairs in order.
struct F16 {
  static constexpr int kStep = 128, kMmas = 8, kPairStride = 1;
  static constexpr int kChunkSteps = 8, kChunkRowBytes = 8 * 256;
  static constexpr int kStreamAhead = 1;  // twice Q4_K's registers a step: one load ahead fits 128
  // No prefetch of the next product: an f16 step streams at ~0.98 of the bandwidth, and
  // with it the 8B f16 file ran slower (H100, tg128 in one call each: 181.0 / 181.0 against
  // 184.1; 179.0 / 178.1 against 182.1 / 181.4 without it from F16 launches).
  static constexpr bool kPrefetchNext = false;
  static constexpr bool kRingMaps = false;  // rows wider than a box (256 elements)
  struct Raw {
    uint4 v[4];
  };
  template <class M = FromGlobal>
  __device__ __forceinline__ static Raw load(const uint8_t* row, int64_t s, int q) {
    const uint8_t* p = row + (s * kStep + 32 * q) * 2;
    return Raw{{M::u128(p), M::u128(p + 16), M::u128(p + 32), M::u128(p + 48)}};
  }
  // mma m = 2j + u: load j, its half u; activations k = 32q + 8j + 4u.
  __device__ __forceinline__ static int group(int m, int q) { return 8 * q + m; }
  // The mmas of a step whose 32-bit words each hold one pair of weights, as f16 by pair(w)
  // (F16: the word itself; BF16: its conversion).
  template <class X, class Pair>
  __device__ __forceinline__ static void step_pairs(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q,
                                                    float (&acc)[kAccs][4], Pair pair) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint2 x0 = x.get(s, 2 * j, q), x1 = x.get(s, 2 * j + 1, q);
      const uint32_t f0[4] = {pair(ra.v[j].x), pair(rb.v[j].x), pair(ra.v[j].y), pair(rb.v[j].y)};
      mma_16816(acc[(2 * j) % kAccs], f0, x0.x, x0.y);
      const uint32_t f1[4] = {pair(ra.v[j].z), pair(rb.v[j].z), pair(ra.v[j].w), pair(rb.v[j].w)};
      mma_16816(acc[(2 * j + 1) % kAccs], f1, x1.x, x1.y);
    }
  }
  template <class X>
  __device__ __forceinline__ static void step(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q, float (&acc)[kAccs][4]) {
    step_pairs(ra, rb, x, s, q, acc, [](uint32_t w) { return w; });
  }
};

// One block of a format whose blocks start on a word or two bytes past one (Q8_0 and Q4_0:
// 34- and 18-byte blocks, four a step, so odd blocks are the misaligned ones): its N words
// read aligned, the f16 d of its first two bytes, and its code words realigned by one
// funnel shift. In a ring stage (rows 16-byte aligned, steps 4-byte multiples) the
// misalignment is the parity of q; it is taken by pointer arithmetic, so that a stage is
// read with LDS. An even block's last word holds two bytes of the next block; a row's last
// block is odd (rows of whole steps), so no read leaves the matrix.
template <int N>
struct WordBlock {
  uint32_t w[N];
  uint32_t mis;  // 0 or 2: the block's bytes past the word at w[0]
  template <class M>
  __device__ __forceinline__ static WordBlock load(const uint8_t* blk, int q) {
    WordBlock r;
    r.mis = M::kRing ? static_cast<uint32_t>(q & 1) * 2 : static_cast<uint32_t>(reinterpret_cast<uintptr_t>(blk) & 2);
    const uint32_t* w = reinterpret_cast<const uint32_t*>(blk - r.mis);
#pragma unroll
    for (int i = 0; i < N; ++i) r.w[i] = M::u32(w + i);
    return r;
  }
  // d in both halves: bytes 0, 1 or 2, 3 of word 0.
  __device__ __forceinline__ __half2 d() const { return u32_as_half2(__byte_perm(w[0], 0u, mis ? 0x3232u : 0x1010u)); }
  // The four code bytes from byte 2 + 4i of the block (the codes start 2 or 4 bytes past w[0]).
  __device__ __forceinline__ uint32_t codes(int i) const { return __funnelshift_rc(w[i], w[i + 1], 16u + 8u * mis); }
};

// What Q8_0 and Q4_0 share: a step of four blocks of kBlock bytes (128 weights), quad q
// reading block q as a WordBlock of N words; no persistent kernel (the streamed one or the
// tile kernel), the next product's first tile prefetched.
template <int64_t kBlock, int N>
struct FourWordBlocks {
  static constexpr int kStep = 128, kMmas = 8;
  static constexpr int64_t kBlockBytes = kBlock, kStepBytes = 4 * kBlock;
  static constexpr int kStreamAhead = 0;
  static constexpr bool kPrefetchNext = true;
  using Raw = WordBlock<N>;
  template <class M = FromGlobal>
  __device__ __forceinline__ static Raw load(const uint8_t* row, int64_t s, int q) {
    return Raw::template load<M>(row + s * kStepBytes + kBlockBytes * q, q);
  }
};

// Q8_0: a step is four blocks (128 weights); quad q takes block q, an f16 d and 32 signed
// codes (34 bytes). Rows and steps are 4-byte multiples (136 bytes a step), so block q
// starts on a word for even q and two bytes past one for odd q: its nine words are read
// aligned and each mma's four codes realigned by one funnel shift. A code pair becomes the
// f16 1152 + c exactly (0x64 over the byte c + 128), 1152 is subtracted and the product
// with d rounded once: rn(d·q), the prefill route's f16 weight.
struct Q80 : FourWordBlocks<34, 9> {
  static constexpr bool kRingMaps = true;  // H200, 8B q8_0: tg128 334 -> 390, at 8192 keys 295 -> 332
  static constexpr int kPairStride = 1;
  static constexpr int kChunkSteps = 8, kChunkRowBytes = 8 * 136;  // 32 blocks: 16-byte multiple
  // mma m: codes 4m..4m+3 of block q; activations k = 32q + 4m.
  __device__ __forceinline__ static int group(int m, int q) { return 8 * q + m; }
  // The f16 pair rn(d·c) of the codes at bytes 0, 1 (sel 0x4140) or 2, 3 (0x4342) of
  // `codes` (sign bits already flipped).
  __device__ __forceinline__ static uint32_t pair(uint32_t codes, uint32_t sel, __half2 d) {
    const __half2 off = __floats2half2_rn(1152.0f, 1152.0f);  // 1024 + 128: signed bytes
    return half2_as_u32(__hmul2_rn(__hsub2_rn(u32_as_half2(__byte_perm(codes, 0x64646464u, sel)), off), d));
  }
  template <class X>
  __device__ __forceinline__ static void step(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q, float (&acc)[kAccs][4]) {
    const __half2 da = ra.d(), db = rb.d();
#pragma unroll
    for (int m = 0; m < kMmas; ++m) {
      const uint32_t ca = ra.codes(m) ^ 0x80808080u, cb = rb.codes(m) ^ 0x80808080u;
      const uint32_t f[4] = {pair(ca, 0x4140u, da), pair(cb, 0x4140u, db), pair(ca, 0x4342u, da), pair(cb, 0x4342u, db)};
      const uint2 xv = x.get(s, m, q);
      mma_16816(acc[m % kAccs], f, xv.x, xv.y);
    }
  }
};

// Q4_0: a step is four blocks (128 weights); quad q takes block q, an f16 d and 16 code
// bytes (byte j: weight j in the low nibble, j + 16 in the high one). Steps are 72 bytes,
// so block q starts on a word for even q and two bytes past one for odd q, as Q8_0's: its
// five words are read aligned and each code word realigned by one funnel shift. A code
// pair becomes 1024 + c (or 64 + c under the exponent of 64) exactly, 1032 (72) is
// subtracted, so c − 8 exactly, and the product with d rounded once: rn(d·(q − 8)), the
// prefill route's f16 weight.
struct Q40 : FourWordBlocks<18, 5> {
  static constexpr bool kRingMaps = false;
  static constexpr int kPairStride = 2;
  static constexpr int kChunkSteps = 16, kChunkRowBytes = 16 * 72;  // 64 blocks: Q4_K's 1152 bytes
  // mma m = 2i + h: code word i, low (h = 0) or high nibbles; activations k = 32q + 16h + 4i ...
  __device__ __forceinline__ static int group(int m, int q) { return 8 * q + 4 * (m & 1) + (m >> 1); }
  __device__ __forceinline__ static uint32_t low(uint32_t codes, __half2 d) {
    const __half2 v = __hsub2_rn(u32_as_half2(and_or<0x000F000Fu, kHalf1024x2>(codes)), u32_as_half2(0x64086408u));
    return half2_as_u32(__hmul2_rn(v, d));
  }
  __device__ __forceinline__ static uint32_t high(uint32_t codes, __half2 d) {
    const __half2 v = __hsub2_rn(u32_as_half2(and_or<0x00F000F0u, kHalf64x2>(codes)), u32_as_half2(0x54805480u));
    return half2_as_u32(__hmul2_rn(v, d));
  }
  template <class X>
  __device__ __forceinline__ static void step(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q, float (&acc)[kAccs][4]) {
    const __half2 da = ra.d(), db = rb.d();
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t ca = ra.codes(i), cb = rb.codes(i);
      const uint32_t ca8 = ca >> 8, cb8 = cb >> 8;
      const uint2 xl = x.get(s, 2 * i, q), xh = x.get(s, 2 * i + 1, q);
      // Bytes 0 and 2 (weights 4i, 4i + 2), then 1 and 3: low nibbles, then high (+ 16).
      const uint32_t fl[4] = {low(ca, da), low(cb, db), low(ca8, da), low(cb8, db)};
      mma_16816(acc[(2 * i) % kAccs], fl, xl.x, xl.y);
      const uint32_t fh[4] = {high(ca, da), high(cb, db), high(ca8, da), high(cb8, db)};
      mma_16816(acc[(2 * i + 1) % kAccs], fh, xh.x, xh.y);
    }
  }
};

// BF16: F16's layout (quad q takes weights 32q..32q+31 of a 128-weight step as four
// 16-byte loads, pairs in order); a pair is widened exactly to two floats and rounded to
// f16 by one conversion: rn(w), the prefill route's f16 weight.
struct BF16 {
  static constexpr int kStep = 128, kMmas = 8, kPairStride = 1;
  static constexpr int kChunkSteps = 8, kChunkRowBytes = 8 * 256;
  static constexpr int kStreamAhead = 0;
  static constexpr bool kPrefetchNext = false;  // as F16: two bytes a weight stream near the bandwidth
  static constexpr bool kRingMaps = false;
  using Raw = F16::Raw;
  template <class M = FromGlobal>
  __device__ __forceinline__ static Raw load(const uint8_t* row, int64_t s, int q) {
    return F16::load<M>(row, s, q);
  }
  __device__ __forceinline__ static int group(int m, int q) { return F16::group(m, q); }
  __device__ __forceinline__ static uint32_t pair(uint32_t v) {
    return half2_as_u32(__floats2half2_rn(__uint_as_float(v << 16), __uint_as_float(v & 0xFFFF0000u)));
  }
  template <class X>
  __device__ __forceinline__ static void step(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q, float (&acc)[kAccs][4]) {
    F16::step_pairs(ra, rb, x, s, q, acc, [](uint32_t w) { return pair(w); });
  }
};

// F32: a step is 64 weights (quad q takes 16q..16q+15 as four 16-byte loads: 64 bytes a
// row, F16's register count); each mma's four weights a row are two pairs, each rounded
// to f16 by one conversion: rn(w), the prefill route's f16 weight.
struct F32 {
  static constexpr int kStep = 64, kMmas = 4, kPairStride = 1;
  static constexpr int kChunkSteps = 8, kChunkRowBytes = 8 * 256;
  static constexpr int kStreamAhead = 0;
  static constexpr bool kPrefetchNext = false;
  static constexpr bool kRingMaps = false;
  using Raw = F16::Raw;
  template <class M = FromGlobal>
  __device__ __forceinline__ static Raw load(const uint8_t* row, int64_t s, int q) {
    const uint8_t* p = row + (s * kStep + 16 * q) * 4;
    return Raw{{M::u128(p), M::u128(p + 16), M::u128(p + 32), M::u128(p + 48)}};
  }
  // mma m: load m; activations k = 16q + 4m.
  __device__ __forceinline__ static int group(int m, int q) { return 4 * q + m; }
  __device__ __forceinline__ static uint32_t pair(uint32_t lo, uint32_t hi) {
    return half2_as_u32(__floats2half2_rn(__uint_as_float(lo), __uint_as_float(hi)));
  }
  template <class X>
  __device__ __forceinline__ static void step(const Raw& ra, const Raw& rb, const X& x, int64_t s, int q, float (&acc)[kAccs][4]) {
#pragma unroll
    for (int m = 0; m < kMmas; ++m) {
      const uint2 xv = x.get(s, m, q);
      const uint32_t f[4] = {pair(ra.v[m].x, ra.v[m].y), pair(rb.v[m].x, rb.v[m].y), pair(ra.v[m].z, ra.v[m].w),
                             pair(rb.v[m].z, rb.v[m].w)};
      mma_16816(acc[m % kAccs], f, xv.x, xv.y);
    }
  }
};

// ---- activations ------------------------------------------------------------------------

// B fragment of one mma from the four activations of float4 group f: rounded to f16 pairs.
template <int kPairStride>
__device__ __forceinline__ uint2 b_pair(float4 v) {
  return kPairStride == 2 ? make_uint2(pack_half2(v.x, v.z), pack_half2(v.y, v.w))
                          : make_uint2(pack_half2(v.x, v.y), pack_half2(v.z, v.w));
}

// One token, staged: entry (step, m, q) of shared memory holds mma m's B pair for quad q.
template <class F>
struct StagedX {
  const uint2* xs;
  __device__ uint2 get(int64_t s, int m, int q) const { return xs[(s * F::kMmas + m) * 4 + q]; }
};

// Any token, straight from global memory (the lane's own column).
template <class F>
struct DirectX {
  const float* xt;
  __device__ uint2 get(int64_t s, int m, int q) const {
    return b_pair<F::kPairStride>(load_prior(reinterpret_cast<const float4*>(xt + s * F::kStep) + F::group(m, q)));
  }
};

// ---- kernel ------------------------------------------------------------------------------

// Shared memory of the streamed kernel: its barriers, the staged activations, the ring.
__host__ __device__ constexpr int64_t ring_bars_bytes(int n_stages) { return (16 * int64_t{n_stages} + 127) / 128 * 128; }
template <class F>
__host__ __device__ constexpr int64_t ring_x_bytes(int64_t n_steps) {
  return (n_steps * F::kMmas * 4 * 8 + 127) / 128 * 128;
}
template <class F>
__host__ __device__ constexpr int64_t ring_stage_bytes() { return 16 * (F::kChunkRowBytes + 16); }

// Up to three matrices that share their input (q, k, v; gate, up) in one launch: block x
// of the grid takes a 16-row tile of matrix m, first_tile[m] <= x < first_tile[m + 1].
// A row's result does not depend on the company it is launched in.
struct GemvGroup {
  static constexpr int kMax = 3;
  const uint8_t* w[kMax];
  int64_t row_bytes[kMax], n_rows[kMax], ldy[kMax];
  float* y[kMax];
  int first_tile[kMax + 1];
  int64_t n;  // 64 bits: no padding, so a step record holds defined bytes
  // The matrix whose tiles include `tile`.
  __device__ __forceinline__ int matrix_of(int tile) const {
    int mat = 0;
    while (mat + 1 < n && tile >= first_tile[mat + 1]) ++mat;
    return mat;
  }
};

// The matrix and row that slot `slot` (0-15) of `tile` computes. A plain group: row
// (tile - first tile of its matrix) · 16 + slot. A SwiGLU pair (gate and up of one shape,
// y[2] their product): slots 0-7 are rows 8 · tile + slot of gate, slots 8-15 the same
// rows of up, so that one tile end holds both factors of its eight outputs.
template <bool kSwiGLU>
__device__ __forceinline__ int tile_slot_row(const GemvGroup& grp, int tile, int slot, int64_t& row) {
  if constexpr (kSwiGLU) {
    row = static_cast<int64_t>(tile) * 8 + slot % 8;
    return slot / 8;
  } else {
    const int mat = grp.matrix_of(tile);
    row = static_cast<int64_t>(tile - grp.first_tile[mat]) * 16 + slot;
    return mat;
  }
}

// The group of 1-3 targets (host side).
inline GemvGroup make_gemv_group(const GemvTarget* targets, int n) {
  GemvGroup grp{};
  grp.n = n;
  for (int i = 0; i < n; ++i) {
    grp.w[i] = static_cast<const uint8_t*>(targets[i].w);
    grp.row_bytes[i] = targets[i].row_bytes;
    grp.n_rows[i] = targets[i].n_rows;
    grp.y[i] = targets[i].y;
    grp.ldy[i] = targets[i].ldy;
    grp.first_tile[i + 1] = grp.first_tile[i] + static_cast<int>((targets[i].n_rows + 15) / 16);
  }
  return grp;
}
// The group of a gate and up pair of one shape (tile_slot_row<true>): tiles of eight rows
// of each.
inline GemvGroup make_pair_group(const GemvTarget& gate, const GemvTarget& up) {
  const GemvTarget pair[] = {gate, up};
  GemvGroup grp = make_gemv_group(pair, 2);
  grp.first_tile[1] = grp.first_tile[2] = static_cast<int>((gate.n_rows + 7) / 8);
  return grp;
}

// The tensor maps of a streamed launch's matrices (device_weight_maps), in device memory:
// a box is a ring stage's rows at its pitch, so that a stage is one tensor copy (two of
// eight rows for a gate and up tile) instead of sixteen row copies. Null (row copies)
// where neither format takes them or a matrix fits no map (host side).
template <class F, class F2, bool kSwiGLU>
const CUtensorMap* ring_maps(const GemvGroup& grp, int n_first) {
  if constexpr (!F::kRingMaps && !F2::kRingMaps) {
    return nullptr;
  } else {
    WeightRows rows[GemvGroup::kMax];
    for (int i = 0; i < grp.n; ++i)
      rows[i] = {grp.w[i], grp.row_bytes[i], grp.n_rows[i], (i < n_first ? F::kChunkRowBytes : F2::kChunkRowBytes) + 16,
                 kSwiGLU ? 8 : 16};
    return device_weight_maps(rows, static_cast<int>(grp.n));
  }
}

// One token's activations as f16 pairs in shared memory, in the order the steps read them
// (StagedX); the whole block takes part and waits for the others. kBatch > 1: each thread
// issues its loads kBatch at a time before converting any (long rows: the 14336 inputs of
// the down products are 14 loads a thread after the wait, one round trip to L2 instead of
// several).
template <class F, int kBatch = 1>
__device__ __forceinline__ void fill_x(uint2* xs, const float* x, int64_t n_steps, int tid, int n_threads) {
  constexpr int kPerStep = F::kMmas * 4;
  const int entries = static_cast<int>(n_steps) * kPerStep;
  const auto load = [&](int i) {
    return load_prior(reinterpret_cast<const float4*>(x + (i / kPerStep) * F::kStep) + F::group((i / 4) % F::kMmas, i % 4));
  };
  if constexpr (kBatch == 1) {
    for (int i = tid; i < entries; i += n_threads) xs[i] = b_pair<F::kPairStride>(load(i));
  } else {
    for (int base = tid; base < entries; base += kBatch * n_threads) {
      float4 v[kBatch];
#pragma unroll
      for (int k = 0; k < kBatch; ++k)
        if (base + k * n_threads < entries) v[k] = load(base + k * n_threads);
#pragma unroll
      for (int k = 0; k < kBatch; ++k)
        if (base + k * n_threads < entries) xs[base + k * n_threads] = b_pair<F::kPairStride>(v[k]);
    }
  }
}
// One token's input staged as rms(x) · gain (a NormLink's consuming side) in fill_x's
// order, kEntries entries a thread at most (rows up to kNormLinkMaxCols at 256 threads).
// load_gain before the wait (the gains are weights: no kernel writes them); after it,
// load_x, then one scale for the block (scale_from_tile_sums, whose loads go out with
// x's), then store: the staged pairs and, where `out` is given, the f32 row.
template <class F>
struct NormedFill {
  static constexpr int kEntries = 4;
  float4 g[kEntries], v[kEntries];
  int tid, n_threads, entries;
  __device__ NormedFill(int64_t n_steps, int tid_, int n_threads_)
      : tid(tid_), n_threads(n_threads_), entries(static_cast<int>(n_steps) * F::kMmas * 4) {}
  // The float offset in the row of entry i (fill_x's float4 group).
  __device__ static int64_t offset(int i) {
    constexpr int kPerStep = F::kMmas * 4;
    return (i / kPerStep) * F::kStep + 4 * F::group((i / 4) % F::kMmas, i % 4);
  }
  __device__ void load_gain(const float* gain) {
#pragma unroll
    for (int k = 0; k < kEntries; ++k)
      if (const int i = tid + k * n_threads; i < entries) {
        // Read as integers: the read-only path carries weights only as integer bits
        // (tests/cuda/cuda_ptx_loads_test.cpp), floats through it would be activations.
        const uint4 u = __ldg(reinterpret_cast<const uint4*>(gain + offset(i)));
        g[k] = make_float4(__uint_as_float(u.x), __uint_as_float(u.y), __uint_as_float(u.z), __uint_as_float(u.w));
      }
  }
  __device__ void load_x(const float* x) {
#pragma unroll
    for (int k = 0; k < kEntries; ++k)
      if (const int i = tid + k * n_threads; i < entries) v[k] = load_prior(reinterpret_cast<const float4*>(x + offset(i)));
  }
  __device__ void store(uint2* xs, float scale, float* out) const {
#pragma unroll
    for (int k = 0; k < kEntries; ++k) {
      const int i = tid + k * n_threads;
      if (i >= entries) continue;
      const float4 n = make_float4(rms_apply(v[k].x, scale, g[k].x), rms_apply(v[k].y, scale, g[k].y),
                                   rms_apply(v[k].z, scale, g[k].z), rms_apply(v[k].w, scale, g[k].w));
      xs[i] = b_pair<F::kPairStride>(n);
      if (out) *reinterpret_cast<float4*>(out + offset(i)) = n;
    }
  }
};

template <class F>
__device__ __forceinline__ void stage_x(uint2* xs, const float* x, int64_t n_steps) {
  fill_x<F>(xs, x, n_steps, static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x));
  __syncthreads();
}

// The two halves of a tile's end in the kernels that loop over tiles (one token: every
// column of acc is the same, column 0 kept). put_rows: the warp's rows g and g + 8 into
// part[warp]. add_parts_and_store (lanes 0-15 of one warp): the W parts added in warp
// order, the 16 rows stored.
template <int W>
__device__ __forceinline__ void put_rows(float (&part)[W][16], const float (&acc)[kAccs][4]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane % 4 == 0) {
    part[warp][lane / 4] = combine(acc, 0);
    part[warp][lane / 4 + 8] = combine(acc, 2);
  }
}
// What a kernel may store beside each row (side(mat, row, value)); none by default.
struct NoSideStore {
  __device__ __forceinline__ void operator()(int, int64_t, float) const {}
};
// Row `slot` of a tile: the W parts added in warp order.
template <int W>
__device__ __forceinline__ float sum_parts(const float (&part)[W][16], int slot) {
  float v = part[0][slot];
#pragma unroll
  for (int w = 1; w < W; ++w) v += part[w][slot];
  return v;
}
template <int W, class Side = NoSideStore>
__device__ __forceinline__ void add_parts_and_store(const float (&part)[W][16], const GemvGroup& grp, int tile,
                                                    Side side = {}) {
  const int lane = threadIdx.x % 32;
  if (lane >= 16) return;
  int64_t r;
  const int mat = tile_slot_row<false>(grp, tile, lane, r);
  const float v = sum_parts<W>(part, lane);
  if (r < grp.n_rows[mat]) {
    grp.y[mat][r] = v;
    side(mat, r, v);
  }
}

// The tile end of a NormLink's producing side (one matrix): the W parts added in warp
// order and stored, their sum with the row's residual stored beside them, and the tile's
// sum of squares of those sums.
template <int W>
__device__ __forceinline__ void add_parts_and_store_residual(const float (&part)[W][16], const GemvGroup& grp,
                                                             int tile, const ResidualRows& res) {
  const int lane = threadIdx.x % 32;
  if (lane >= 16) return;
  int64_t r;
  const int mat = tile_slot_row<false>(grp, tile, lane, r);
  const bool in_range = r < grp.n_rows[mat];
  const float v = sum_parts<W>(part, lane);
  if (in_range) grp.y[mat][r] = v;
  res.store(tile, r, v, in_range);
}

// The tile end of a SwiGLU pair (tile_slot_row): lanes 0-15 add the W parts of their slot
// in warp order (the sums of add_parts_and_store), store gate's and up's rows, and lanes
// 0-7 store silu(gate) · up with the swiglu kernel's expression.
template <int W>
__device__ __forceinline__ void add_parts_and_store_swiglu(const float (&part)[W][16], const GemvGroup& grp, int tile) {
  const int lane = threadIdx.x % 32;
  if (lane >= 16) return;
  const float v = sum_parts<W>(part, lane);
  const float up = __shfl_sync(0x0000FFFFu, v, 8 + lane % 8);  // lanes 0-7: up's row beside gate's
  int64_t r;
  const int mat = tile_slot_row<true>(grp, tile, lane, r);
  if (r < grp.n_rows[0]) {
    grp.y[mat][r] = v;
    if (mat == 0) grp.y[2][r] = swiglu_value(v, up);
  }
}

// Tile ends in flight in the streamed kernel (store_tile_async).
constexpr int kRingParts = 4;

// Barrier 1 over the first n threads of the block (the consumer warps of the streamed
// kernel; barrier 0 is __syncthreads).
__device__ __forceinline__ void sync_threads_of(int n) { asm volatile("bar.sync 1, %0;" ::"r"(n) : "memory"); }

// The end of tile j in the streamed kernel, without a barrier over the computing warps:
// each warp puts its rows g and g + 8 into part[j % kRingParts] and arrives on that
// part's full barrier; warp j % W waits for all W, adds the parts in warp order (the sums
// of store_tile) and stores the 16 rows, then frees the part. A warp only waits when it
// comes back to a part still being read, kRingParts tiles later; so the warps drift
// apart by up to the ring's depth instead of meeting at every tile.
template <int W, bool kSwiGLU = false, class Side = NoSideStore>
__device__ __forceinline__ void store_tile_async(float (&part)[kRingParts][W][16], uint32_t bars,
                                                 const float (&acc)[kAccs][4], const GemvGroup& grp, int tile, int j,
                                                 Side side = {}) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, b = j % kRingParts, round = j / kRingParts;
  const uint32_t full = bars + 8u * b, empty = bars + 8u * (kRingParts + b);
  if (round > 0) wg::mbar_wait(empty, (round - 1) & 1);
  put_rows<W>(part[b], acc);
  __syncwarp();
  if (lane == 0) wg::mbar_arrive(full);
  if (warp == j % W) {
    wg::mbar_wait(full, round & 1);
    if constexpr (kSwiGLU) add_parts_and_store_swiglu<W>(part[b], grp, tile);
    else if constexpr (std::is_same_v<Side, ResidualRows>) add_parts_and_store_residual<W>(part[b], grp, tile, side);
    else add_parts_and_store<W>(part[b], grp, tile, side);
    __syncwarp();
    if (lane == 0) wg::mbar_arrive(empty);
  }
}

// ---- the streamed kernels' ring ------------------------------------------------------------
// (gemv_f16_ring_kernel and the decode chain.) A ring of n_stages stages of 16 rows a
// chunk, rows F::kChunkRowBytes + 16 apart (the eight rows a quad reads fall on different
// banks); full[i] completes with the producer's arrival and the bytes of its copies,
// empty[i] with the W computing warps' arrivals.

// The ring's barriers and those of the tile ends' parts (store_tile_async), by one thread.
template <int W>
__device__ __forceinline__ void init_ring_barriers(uint32_t full0, uint32_t empty0, int n_stages,
                                                   uint64_t (&part_bars)[2 * kRingParts]) {
  for (int i = 0; i < n_stages; ++i) {
    wg::mbar_init(full0 + 8u * i, 1);
    wg::mbar_init(empty0 + 8u * i, W);
  }
  for (int i = 0; i < kRingParts; ++i) {
    wg::mbar_init(static_cast<uint32_t>(__cvta_generic_to_shared(&part_bars[i])), W);
    wg::mbar_init(static_cast<uint32_t>(__cvta_generic_to_shared(&part_bars[kRingParts + i])), 1);
  }
  wg::mbar_fence_init();
}

// The producer warp's copies of one tile: its n_chunks chunks into the next stages (one
// bulk copy a row; rows past the matrix's end repeat its last row). st: the stage, round:
// how often the ring has wrapped (no division a chunk). kSwiGLU: the tile of a SwiGLU pair.
template <class F, bool kSwiGLU = false>
__device__ __forceinline__ void copy_tile(const GemvGroup& grp, int tile, int n_chunks, uint8_t* ring, uint32_t stage_bytes,
                                          int n_stages, uint32_t full0, uint32_t empty0, int& st, int& round) {
  constexpr int kPitch = F::kChunkRowBytes + 16;
  const int lane = threadIdx.x % 32;
  int64_t r;
  const int mat = tile_slot_row<kSwiGLU>(grp, tile, lane % 16, r);
  const uint8_t* src = grp.w[mat] + min(r, grp.n_rows[mat] - 1) * grp.row_bytes[mat];
  // Weights are read once a step: marked first to leave L2, they no longer push out the
  // KV cache rows and activations that the next kernels read (H100, tg128 +2-3%).
  const uint64_t policy = wg::l2_evict_first_policy();
  const uint32_t dst = static_cast<uint32_t>(__cvta_generic_to_shared(ring)) + (lane % 16) * kPitch;
  for (int c = 0; c < n_chunks; ++c, src += F::kChunkRowBytes, st = st + 1 == n_stages ? 0 : st + 1, round += st == 0) {
    if (round > 0) {
      wg::mbar_wait(empty0 + 8u * st, (round - 1) & 1);
      wg::fence_proxy_async_shared();  // the consumers' loads of the stage before the copies over it
    }
    const uint32_t full = full0 + 8u * st;
    // No barrier between the two: bytes completing before the expected count is posted
    // leave the phase open, since lane 0's arrival is still pending.
    if (lane == 0) wg::mbar_arrive_expect_tx(full, 16u * F::kChunkRowBytes);
    if (lane < 16) wg::bulk_copy_g2s_hinted(dst + st * stage_bytes, src, F::kChunkRowBytes, full, policy);
  }
}

// copy_tile with a stage as one tensor copy of the tile's rows (two of eight rows for a
// SwiGLU pair's tile) at the ring's pitch (maps: the launch's ring_maps; rows past the
// matrix's end arrive as zeros, and no computed row reads them), by one thread: the
// producer warp's lane 0.
template <class F, bool kSwiGLU = false>
__device__ __forceinline__ void copy_tile_mapped(const GemvGroup& grp, int tile, int n_chunks, uint32_t ring,
                                                 uint32_t stage_bytes, int n_stages, uint32_t full0, uint32_t empty0,
                                                 int& st, int& round, const CUtensorMap* maps) {
  constexpr int kPitch = F::kChunkRowBytes + 16;
  int64_t r;
  const CUtensorMap* map = maps + tile_slot_row<kSwiGLU>(grp, tile, 0, r);
  const int r0 = static_cast<int>(r);  // the tile's first row (ring_maps: fewer than 2^31 rows)
  const uint64_t policy = wg::l2_evict_first_policy();  // as copy_tile
  for (int c = 0; c < n_chunks; ++c, st = st + 1 == n_stages ? 0 : st + 1, round += st == 0) {
    if (round > 0) {
      wg::mbar_wait(empty0 + 8u * st, (round - 1) & 1);
      wg::fence_proxy_async_shared();
    }
    const uint32_t full = full0 + 8u * st, stage = ring + st * stage_bytes;
    const int c0 = c * (F::kChunkRowBytes / 8);
    wg::mbar_arrive_expect_tx(full, 16u * kPitch);  // the boxes fill the rows' padding too
    wg::tensor_copy_2d_hinted(stage, map, full, c0, r0, policy);
    if constexpr (kSwiGLU) wg::tensor_copy_2d_hinted(stage + 8u * kPitch, map + 1, full, c0, r0, policy);
  }
}

// The next product's first tile of this block's index (`pair`: tiles of a gate and up pair),
// the first `bytes` of each of its rows prefetched into L2 by lanes 0-15, one row each.
__device__ __forceinline__ void prefetch_first_tile(const GemvGroup& next, bool pair, int bytes) {
  const int lane = threadIdx.x % 32, tile = static_cast<int>(blockIdx.x);
  if (lane >= 16 || next.n == 0 || tile >= next.first_tile[next.n]) return;
  int64_t r;
  const int mat = pair ? tile_slot_row<true>(next, tile, lane, r) : tile_slot_row<false>(next, tile, lane, r);
  const int64_t rb = next.row_bytes[mat];
  const uint8_t* row = next.w[mat] + r * rb;
  const int64_t n = (rb < bytes ? rb : int64_t{bytes}) / 16 * 16;
  if (r >= next.n_rows[mat] || n == 0 || reinterpret_cast<uintptr_t>(row) % 16 != 0) return;
  wg::prefetch_l2(row, static_cast<uint32_t>(n));
}

// A computing warp's share of one tile from the ring: the steps of each chunk go to the
// warps as in gemv_f16_kernel (warp w takes steps w, w + W, ...), so every row has that
// kernel's sums. x_of(c, i): the activations (F::step's X) of the warp's i-th step of chunk
// c. kChunks > 0: that many chunks, unrolled (held activations index registers by c);
// otherwise n_chunks. st, phase: the ring's current stage and the parity of its round.
template <class F, int W, int kChunks, class XOf>
__device__ __forceinline__ void compute_chunks(XOf x_of, int n_chunks, const uint8_t* ring, uint32_t stage_bytes,
                                               int n_stages, uint32_t full0, uint32_t empty0, int& st, uint32_t& phase,
                                               float (&acc)[kAccs][4]) {
  static_assert(F::kChunkSteps % W == 0, "every warp takes the same number of steps a chunk");
  constexpr int kPitch = F::kChunkRowBytes + 16, kPer = F::kChunkSteps / W;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const auto chunk = [&](int c) {
    wg::mbar_wait(full0 + 8u * st, phase);
    const uint8_t* ra = ring + st * stage_bytes + g * kPitch;
    const uint8_t* rb = ra + 8 * kPitch;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int ls = warp + i * W;
      const typename F::Raw a = F::template load<FromShared>(ra, ls, q), b = F::template load<FromShared>(rb, ls, q);
      F::step(a, b, x_of(c, i), static_cast<int64_t>(c) * F::kChunkSteps + ls, q, acc);
    }
    __syncwarp();
    if (lane == 0) wg::mbar_arrive(empty0 + 8u * st);
    st = st + 1 == n_stages ? 0 : st + 1;
    phase ^= st == 0;
  };
  if constexpr (kChunks > 0) {
#pragma unroll
    for (int c = 0; c < kChunks; ++c) chunk(c);
  } else {
    for (int c = 0; c < n_chunks; ++c) chunk(c);
  }
}
// The activations staged in shared memory.
template <class F, int W>
__device__ __forceinline__ void compute_tile(const StagedX<F>& xsrc, int n_chunks, const uint8_t* ring, uint32_t stage_bytes,
                                             int n_stages, uint32_t full0, uint32_t empty0, int& st, uint32_t& phase,
                                             float (&acc)[kAccs][4]) {
  compute_chunks<F, W, 0>([&](int, int) -> const StagedX<F>& { return xsrc; }, n_chunks, ring, stage_bytes, n_stages,
                          full0, empty0, st, phase, acc);
}

// The activations of a warp's steps in a row of kChunks ring chunks, in registers: v[j]
// holds the B pairs of the warp's j-th step (in compute_tile's order: chunk by chunk,
// steps warp, warp + W, ... of each), read once from the staged copy and kept for every
// tile of the block, so that a step reads only its weights from shared memory. At most
// 32 pairs (64 registers) a thread: held_chunks<F>() chunks.
template <class F, int W>
__host__ __device__ constexpr int held_steps_a_chunk() { return F::kChunkSteps / W; }
template <class F, int W = 8>
__host__ __device__ constexpr int held_chunks() { return 32 / (held_steps_a_chunk<F, W>() * F::kMmas); }
template <class F, int W, int kChunks>
struct HeldX {
  static constexpr int kSteps = kChunks * held_steps_a_chunk<F, W>();
  uint2 v[kSteps][F::kMmas];
  __device__ __forceinline__ explicit HeldX(const uint2* xs) {
    const int warp = threadIdx.x / 32, q = threadIdx.x % 4;
#pragma unroll
    for (int j = 0; j < kSteps; ++j) {
      const int s = warp + j * W;  // the warp's j-th step
#pragma unroll
      for (int m = 0; m < F::kMmas; ++m) v[j][m] = xs[(s * F::kMmas + m) * 4 + q];
    }
  }
};
// One held step as the X of F::step.
template <class F>
struct HeldStep {
  const uint2* v;
  __device__ __forceinline__ uint2 get(int64_t, int m, int) const { return v[m]; }
};

// compute_tile for rows of kChunks chunks with the activations held (HeldX): the same
// steps in the same order, so the same sums.
template <class F, int W, int kChunks>
__device__ __forceinline__ void compute_tile_held(const HeldX<F, W, kChunks>& xr, const uint8_t* ring, uint32_t stage_bytes,
                                                  int n_stages, uint32_t full0, uint32_t empty0, int& st, uint32_t& phase,
                                                  float (&acc)[kAccs][4]) {
  constexpr int kPer = held_steps_a_chunk<F, W>();
  compute_chunks<F, W, kChunks>([&](int c, int i) { return HeldStep<F>{xr.v[c * kPer + i]}; }, kChunks, ring, stage_bytes,
                                n_stages, full0, empty0, st, phase, acc);
}

}  // namespace
}  // namespace greta::cuda
