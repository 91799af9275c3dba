// The matrix-matrix route (prefill): Y[t][r] = Σ_k W[r][k] X[t][k] for many tokens t.
//
// A classic shared-memory tiling, written for correctness first: a 64-row × 64-token
// output tile per block of 256 threads, K walked 32 at a time. Each step dequantizes the
// 64×32 weight slice once into shared memory (exact weights, cuda_dequant.cuh) and stages
// the 64×32 activation slice next to it; every thread then accumulates a 4×4 patch with
// fmaf, one sequential chain per output over k. The reduction order differs from the
// GEMV route's, so the two routes agree within the γ_K bound, not bit for bit.
// (Tensor cores are a later step; see the numeric contract before changing precision.)
#include <cuda_runtime.h>

#include "backend/cuda/cuda_dequant.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

constexpr int kTileRows = 64, kTileTokens = 64, kTileK = 32, kThreads = 256;
constexpr int kPad = 4;  // keeps rows 16-byte aligned and spreads the column stores over banks

template <TensorType T>
__global__ void __launch_bounds__(kThreads)
    gemm_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_rows, int64_t k,
                const float* __restrict__ x, int64_t ldx, int64_t n_tokens, float* __restrict__ y, int64_t ldy,
                int64_t k_vec) {
  __shared__ __align__(16) float ws[kTileK][kTileRows + kPad];    // [k][row]
  __shared__ __align__(16) float xs[kTileK][kTileTokens + kPad];  // [k][token]
  const int tid = threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * kTileRows, t0 = static_cast<int64_t>(blockIdx.y) * kTileTokens;
  const int tr = tid % 16, tt = tid / 16;  // this thread's 4×4 patch: rows 4tr.., tokens 4tt..
  const int lr = tid / 4, lg = tid % 4;    // the row / token and the 8-wide k group this thread stages

  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < k; k0 += kTileK) {
    // Groups of 8 inside k_vec take the vector loads; the rest (a row of odd width or
    // alignment, and the zero padding past k) go element by element.
    const int64_t e0 = k0 + 8 * lg;
    const bool vec = e0 + 8 <= k_vec;
    float v[8];
    if (r0 + lr < n_rows && vec) {
      dequant8<T>(w + (r0 + lr) * row_bytes, e0, v);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = r0 + lr < n_rows && e0 + i < k ? dequant1<T>(w + (r0 + lr) * row_bytes, e0 + i) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) ws[8 * lg + i][lr] = v[i];
    const float* xp = x + (t0 + lr) * ldx + e0;
    if (t0 + lr < n_tokens && vec) {
      const float4 a = *reinterpret_cast<const float4*>(xp), b = *reinterpret_cast<const float4*>(xp + 4);
      v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = t0 + lr < n_tokens && e0 + i < k ? xp[i] : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) xs[8 * lg + i][lr] = v[i];
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kTileK; ++kk) {
      const float4 a = *reinterpret_cast<const float4*>(&ws[kk][4 * tr]);
      const float4 b = *reinterpret_cast<const float4*>(&xs[kk][4 * tt]);
      const float wa[4] = {a.x, a.y, a.z, a.w}, xb[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(wa[i], xb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int64_t t = t0 + 4 * tt + j;
    if (t >= n_tokens) continue;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t r = r0 + 4 * tr + i;
      if (r < n_rows) y[t * ldy + r] = acc[i][j];
    }
  }
}

}  // namespace

void launch_gemm(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t ldx, int64_t n_tokens, float* y, int64_t ldy) {
  if (n_rows == 0 || n_tokens == 0) return;
  const int64_t k_vec = vector_width(type, w, row_bytes, k, x, ldx);
  const dim3 grid(static_cast<unsigned>((n_rows + kTileRows - 1) / kTileRows),
                  static_cast<unsigned>((n_tokens + kTileTokens - 1) / kTileTokens));
  dispatch_type(type, [&](auto tag) {
    constexpr TensorType T = decltype(tag)::value;
    launch_plain(gemm_kernel<T>, grid, dim3(kThreads), 0, static_cast<const uint8_t*>(w), row_bytes, n_rows, k, x, ldx,
                 n_tokens, y, ldy, k_vec);
  });
  check_launch("gemm");
}

}  // namespace greta::cuda
