#pragma once
// Warp-level pieces of the mma.sync tensor-core GEMM (cuda_matmul_mma.cu): cp.async,
// ldmatrix, mma.sync m16n8k16 (f16 in, f32 accumulate), the swizzled tile layout, one K
// sub-step of a warp tile and the accumulator store.
//
// A tile row is 64 halves = 128 bytes = eight 16-byte chunks; chunk c of row r is stored
// at chunk c ^ (r & 7), so the eight row addresses of one ldmatrix fall in distinct banks.
#include <cuda_fp16.h>

#include <cstdint>

namespace greta::cuda::mma {

constexpr int kBK = 64;  // halves of K per stage: one 128-byte tile row

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
  const __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ uint4 pack8(const float v[8]) {
  return make_uint4(pack_half2(v[0], v[1]), pack_half2(v[2], v[3]), pack_half2(v[4], v[5]), pack_half2(v[6], v[7]));
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global → shared, or 16 zero bytes when !valid (src-size 0 reads nothing).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t addr, uint32_t r[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// The same four 8×8 matrices transposed: thread t gets rows 2(t%4), 2(t%4)+1 of column t/4.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t addr, uint32_t r[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// The two f16 parts of a pair of f32 values: hi = rn(v), lo = rn(v − hi) (v − hi is exact
// in f32), so that hi + lo keeps v to a relative 2^-22.
__device__ __forceinline__ void split_half2(float a, float b, uint32_t& hi, uint32_t& lo) {
  const __half2 h = __floats2half2_rn(a, b);
  const float2 hf = __half22float2(h);
  hi = *reinterpret_cast<const uint32_t*>(&h);
  lo = pack_half2(a - hf.x, b - hf.y);
}

__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Byte offset of chunk c of tile row r (swizzled).
__device__ __forceinline__ uint32_t tile_offset(int r, int c) { return r * 128 + ((c ^ (r & 7)) << 4); }

// A warp's tile of WM weight rows × WN tokens. ldmatrix row addresses: A (x4 = rows 0-15
// × k 0-15 of one m16 tile): lane l gives row l%16, chunk l/16. B (x4 = two n8 tiles ×
// k 0-15): lane l gives token (l%8) + 8(l/16), chunk (l/8)%2. All tile rows start at
// multiples of 8, so row & 7 = lane & 7.
template <int WM, int WN>
struct WarpTile {
  static constexpr int kMi = WM / 16, kNi = WN / 8;  // mma tiles per warp
  static_assert(WN % 16 == 0 && WM % 16 == 0, "B fragments are loaded 16 tokens at a time");
  float acc[kMi][kNi][4] = {};
  int a_row, a_chunk, b_row, b_chunk;

  __device__ __forceinline__ WarpTile(int wm0, int wn0, int lane)
      : a_row(wm0 + (lane & 15)), a_chunk(lane >> 4), b_row(wn0 + (lane & 7) + ((lane >> 4) << 3)),
        b_chunk((lane >> 3) & 1) {}

  // K sub-step kk (16 halves) of the stage whose A rows start at a_base, B rows at b_base.
  __device__ __forceinline__ void step(uint32_t a_base, uint32_t b_base, int kk) {
    uint32_t af[kMi][4], bf[kNi / 2][4];
#pragma unroll
    for (int mi = 0; mi < kMi; ++mi) ldmatrix_x4(a_base + tile_offset(a_row + mi * 16, 2 * kk + a_chunk), af[mi]);
#pragma unroll
    for (int nj = 0; nj < kNi / 2; ++nj) ldmatrix_x4(b_base + tile_offset(b_row + nj * 16, 2 * kk + b_chunk), bf[nj]);
#pragma unroll
    for (int mi = 0; mi < kMi; ++mi)
#pragma unroll
      for (int ni = 0; ni < kNi; ++ni)
        mma_16816(acc[mi][ni], af[mi], bf[ni / 2][(ni & 1) * 2], bf[ni / 2][(ni & 1) * 2 + 1]);
  }

  // Accumulator c of mma tile (mi, ni): weight row g (+8 for c2, c3), token 2q (+1 for c1,
  // c3); r0/t0 are the warp tile's first row and token.
  __device__ __forceinline__ void store(int r0, int t0, int lane, int n_rows, int n_tokens, float* __restrict__ y,
                                        int64_t ldy) const {
    const int g = lane >> 2, q = lane & 3;
#pragma unroll
    for (int mi = 0; mi < kMi; ++mi)
#pragma unroll
      for (int ni = 0; ni < kNi; ++ni)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int r = r0 + mi * 16 + g + (c >> 1) * 8, t = t0 + ni * 8 + 2 * q + (c & 1);
          if (r < n_rows && t < n_tokens) y[static_cast<int64_t>(t) * ldy + r] = acc[mi][ni][c];
        }
  }
};

}  // namespace greta::cuda::mma
