// The tensor-core prefill route: Y[t][r] = Σ_k W[r][k] X[t][k] with both operands rounded
// to f16 and the products accumulated in f32 (mma.sync m16n8k16).
//
// Three steps per matmul call: the weights are dequantized to f16 rows of k_pad elements
// with the fast precision's formulas (cuda_dequant_f16.cuh), the activations rounded to
// f16 likewise, then one GEMM over the two K-contiguous operands. K-contiguous rows are what the mma's A (row-major) and B
// (column-major) fragments want, so ldmatrix reads them without a transpose.
//
// GEMM tiles: a block computes BM weight rows × BN tokens, walking K 64 at a time through
// a STAGES-deep cp.async ring of swizzled tiles in shared memory (cuda_mma.cuh).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>

#include "backend/cuda/cuda_dequant.cuh"
#include "backend/cuda/cuda_dequant_f16.cuh"
#include "backend/cuda/cuda_mma.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

using namespace mma;

// ---- f16 operands -------------------------------------------------------------------

// One thread per group of 8 output halves: the flat group index g covers [rows][k_pad/8]
// in order, so a warp writes 512 contiguous bytes. 32-bit indices (the launcher checks).
template <TensorType T>
__global__ void __launch_bounds__(256)
    dequant_f16_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, uint32_t groups, uint32_t groups_per_row,
                       int64_t k, int64_t k_vec, uint4* __restrict__ out) {
  const uint32_t g = blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= groups) return;
  const uint32_t row = g / groups_per_row;
  const int64_t e0 = static_cast<int64_t>(g - row * groups_per_row) * 8;
  const uint8_t* rp = w + row * row_bytes;
  if (e0 + 8 <= k_vec) {
    out[g] = dequant8_f16<T>(rp, e0);
    return;
  }
  __half h[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) h[i] = e0 + i < k ? dequant1_f16<T>(rp, e0 + i) : __float2half_rn(0.0f);
  out[g] = make_uint4(half2_as_u32(__halves2half2(h[0], h[1])), half2_as_u32(__halves2half2(h[2], h[3])),
                      half2_as_u32(__halves2half2(h[4], h[5])), half2_as_u32(__halves2half2(h[6], h[7])));
}

__global__ void __launch_bounds__(256)
    to_f16_kernel(const float* __restrict__ x, int64_t ldx, uint32_t groups, uint32_t groups_per_row, int64_t k,
                  bool vec, uint4* __restrict__ out) {
  const uint32_t g = blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= groups) return;
  const uint32_t t = g / groups_per_row;
  const int64_t e0 = static_cast<int64_t>(g - t * groups_per_row) * 8;
  const float* xp = x + t * ldx + e0;
  float v[8];
  if (vec && e0 + 8 <= k) {
    const float4 a = reinterpret_cast<const float4*>(xp)[0], b = reinterpret_cast<const float4*>(xp)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = e0 + i < k ? xp[i] : 0.0f;
  }
  out[g] = pack8(v);
}

uint32_t group_count(int64_t rows, int64_t k_pad) {
  const int64_t groups = rows * (k_pad / 8);
  if (groups >= (int64_t{1} << 32) - 256) throw std::runtime_error("f16 operand too large for 32-bit group indices");
  return static_cast<uint32_t>(groups);
}

// ---- GEMM -----------------------------------------------------------------------------

template <int BM, int BN, int WM, int WN, int STAGES>
struct Tile {
  static constexpr int kWarps = (BM / WM) * (BN / WN);
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kStageBytes = (BM + BN) * kBK * 2;
  static constexpr int kSmem = STAGES * kStageBytes;
  static_assert((BM * 8) % kThreads == 0 && (BN * 8) % kThreads == 0, "whole chunks per thread");
};

template <int BM, int BN, int WM, int WN, int STAGES>
__global__ void __launch_bounds__(Tile<BM, BN, WM, WN, STAGES>::kThreads)
    gemm_f16_kernel(const __half* __restrict__ w, int n_rows, const __half* __restrict__ x, int n_tokens, int k_pad,
                    float* __restrict__ y, int64_t ldy) {
  using P = Tile<BM, BN, WM, WN, STAGES>;
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int t0 = blockIdx.x * BN, r0 = blockIdx.y * BM;
  const int wm0 = (warp % (BM / WM)) * WM, wn0 = (warp / (BM / WM)) * WN;
  const uint32_t base = smem_addr(smem);
  const int k_tiles = k_pad / kBK;

  // Stage s of K tile kt: W rows [r0, r0+BM) then X rows [t0, t0+BN), 64 halves each.
  auto load = [&](int s, int kt) {
    const uint32_t a_base = base + s * P::kStageBytes, b_base = a_base + BM * 128;
    const int64_t k0 = static_cast<int64_t>(kt) * kBK;
#pragma unroll
    for (int i = 0; i < BM * 8 / P::kThreads; ++i) {
      const int idx = tid + i * P::kThreads, r = idx >> 3, c = idx & 7;
      const bool ok = r0 + r < n_rows;
      const __half* src = w + (ok ? static_cast<int64_t>(r0 + r) * k_pad + k0 + c * 8 : 0);
      cp_async16(a_base + tile_offset(r, c), src, ok);
    }
#pragma unroll
    for (int i = 0; i < BN * 8 / P::kThreads; ++i) {
      const int idx = tid + i * P::kThreads, r = idx >> 3, c = idx & 7;
      const bool ok = t0 + r < n_tokens;
      const __half* src = x + (ok ? static_cast<int64_t>(t0 + r) * k_pad + k0 + c * 8 : 0);
      cp_async16(b_base + tile_offset(r, c), src, ok);
    }
  };

  WarpTile<WM, WN> wt(wm0, wn0, lane);

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < k_tiles) load(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // tile kt is visible to all; everyone is done with tile kt-1's slot
    {
      const int nk = kt + STAGES - 1;
      if (nk < k_tiles) load(nk % STAGES, nk);
      cp_async_commit();
    }
    const uint32_t a_base = base + (kt % STAGES) * P::kStageBytes, b_base = a_base + BM * 128;
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) wt.step(a_base, b_base, kk);
  }
  cp_async_wait<0>();

  wt.store(r0 + wm0, t0 + wn0, lane, n_rows, n_tokens, y, ldy);
}

template <int BM, int BN, int WM, int WN, int STAGES>
void run_gemm(const __half* w, int n_rows, const __half* x, int n_tokens, int k_pad, float* y, int64_t ldy) {
  using P = Tile<BM, BN, WM, WN, STAGES>;
  auto kernel = gemm_f16_kernel<BM, BN, WM, WN, STAGES>;
  // The opt-in above 48 KB of shared memory (per device, so on every call: it is cheap
  // next to a prefill GEMM).
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, P::kSmem), "gemm_f16 smem");
  const dim3 grid((n_tokens + BN - 1) / BN, (n_rows + BM - 1) / BM);
  launch_plain(kernel, grid, dim3(P::kThreads), P::kSmem, w, n_rows, x, n_tokens, k_pad, y, ldy);
}

}  // namespace

void launch_dequant_f16(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, uint16_t* out) {
  const int64_t k_pad = mma_k_padded(k);
  if (n_rows == 0 || k_pad == 0) return;
  const uint32_t groups = group_count(n_rows, k_pad);
  // vector_width's activation check is irrelevant here: pass an aligned dummy.
  alignas(16) static const float dummy[4] = {};
  const int64_t k_vec = vector_width(type, w, row_bytes, k, dummy, 4);
  dispatch_type(type, [&](auto tag) {
    constexpr TensorType T = decltype(tag)::value;
    launch_plain(dequant_f16_kernel<T>, dim3((groups + 255) / 256), dim3(256), 0, static_cast<const uint8_t*>(w),
                 row_bytes, groups, static_cast<uint32_t>(k_pad / 8), k, k_vec, reinterpret_cast<uint4*>(out));
  });
  check_launch("dequant_f16");
}

void launch_to_f16(const float* x, int64_t ldx, int64_t n_tokens, int64_t k, uint16_t* out) {
  const int64_t k_pad = mma_k_padded(k);
  if (n_tokens == 0 || k_pad == 0) return;
  const uint32_t groups = group_count(n_tokens, k_pad);
  const bool vec = reinterpret_cast<uintptr_t>(x) % 16 == 0 && ldx % 4 == 0;
  launch_plain(to_f16_kernel, dim3((groups + 255) / 256), dim3(256), 0, x, ldx, groups, static_cast<uint32_t>(k_pad / 8),
               k, vec, reinterpret_cast<uint4*>(out));
  check_launch("to_f16");
}

void launch_gemm_f16(const uint16_t* w16, int64_t n_rows, const uint16_t* x16, int64_t n_tokens, int64_t k_pad, float* y,
                     int64_t ldy) {
  if (k_pad % kMmaKAlign == 0 && launch_gemm_f16_wgmma(w16, n_rows, x16, n_tokens, k_pad, y, ldy)) return;
  launch_gemm_f16_mma(w16, n_rows, x16, n_tokens, k_pad, y, ldy);
}

void launch_gemm_f16_mma(const uint16_t* w16, int64_t n_rows, const uint16_t* x16, int64_t n_tokens, int64_t k_pad,
                         float* y, int64_t ldy) {
  if (n_rows == 0 || n_tokens == 0) return;
  if (k_pad % kMmaKAlign != 0) throw std::runtime_error("gemm_f16: k_pad must be a multiple of 64");
  if (n_rows > INT32_MAX || n_tokens > INT32_MAX || k_pad > INT32_MAX)
    throw std::runtime_error("gemm_f16: dimensions beyond 32-bit indices");
  const auto* w = reinterpret_cast<const __half*>(w16);
  const auto* x = reinterpret_cast<const __half*>(x16);
  const int rows = static_cast<int>(n_rows), tokens = static_cast<int>(n_tokens), kp = static_cast<int>(k_pad);
  if (k_pad == 0) {
    if (!skip_while_recording())
      check(cudaMemset2DAsync(y, ldy * sizeof(float), 0, n_rows * sizeof(float), n_tokens,
                              static_cast<cudaStream_t>(launch_queue().stream)),
            "gemm_f16 zero");
    return;
  }
  // Tile choice by how many 128×128 tiles there are against the multiprocessors (H100,
  // 512 tokens, measured): a grid of at most one such block per multiprocessor takes four
  // stages (4096² 293 → 301 TFLOP/s); a larger one three, which leaves room for two blocks
  // per multiprocessor (14336×4096 281 → 312); under half a wave the 64×64 tile (1024×4096
  // 78 → 167: four times the blocks).
  int device = 0, sms = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "multiprocessor count");
  const int64_t tiles = ((n_rows + 127) / 128) * ((n_tokens + 127) / 128);
  if (2 * tiles < sms)
    run_gemm<64, 64, 32, 32, 4>(w, rows, x, tokens, kp, y, ldy);
  else if (tiles <= sms)
    run_gemm<128, 128, 64, 32, 4>(w, rows, x, tokens, kp, y, ldy);
  else
    run_gemm<128, 128, 64, 32, 3>(w, rows, x, tokens, kp, y, ldy);
  check_launch("gemm_f16");
}

}  // namespace greta::cuda
