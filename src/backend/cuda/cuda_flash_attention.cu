// Prefill attention on tensor cores (flash attention) over an f16 KV cache.
//
// One block of four warps per (head, tile of 64 query rows); each warp owns 16 rows. The
// block walks the key blocks of 64 keys from key 0 up to the tile's largest position:
// keys and values of the next block are copied into shared memory (cp.async, two
// buffers) while the current one is used. Per key block a warp computes its 16×64 scores
// S = Q·Kᵀ with mma.sync m16n8k16 (q rounded to f16 once, f32 accumulation), masks keys
// past each row's own position, runs the online softmax in f32 (running max and sum per
// row, the output rescaled when the max grows) and adds P·V with the same instruction
// (values through ldmatrix.trans). P goes in as two f16 parts, p_hi = rn(p) and
// p_lo = rn(p − p_hi), so that it keeps f32 precision (relative error ≤ 2^-22): the decode
// kernel keeps its probabilities in f32, and the two routes' attention must differ only
// in summation order. The accumulator layout of two adjacent 8-key score tiles is the
// A-operand layout of a 16-key step, so P never leaves registers. Memory beyond the
// output: none (O(rows)).
//
// Head dims are padded to HD (16, 32, 64 or 128) with zeros in shared memory. Key j is
// read from cache row max(j − kv_shift, 0), as in the other attention kernel.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_mma.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

constexpr int kRows = 64;  // query rows per block (16 per warp)
constexpr int kKeys = 64;  // keys per block step
constexpr int kThreads = 128;

using mma::smem_addr;
using mma::split_half2;

__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_one() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }

template <int HD>
__global__ void __launch_bounds__(kThreads, 2) flash_attention_kernel(AttentionArgs a) {
  constexpr int kStride = HD + 8;  // halves per shared row: 16 bytes of padding keep ldmatrix conflict-free
  extern __shared__ __align__(16) __half smem[];
  __half* qs = smem;                           // [kRows][kStride]
  __half* ks = qs + kRows * kStride;           // [2][kKeys][kStride]
  __half* vs = ks + 2 * kKeys * kStride;       // [2][kKeys][kStride]
  __shared__ int tile_pos[kRows];

  wait_for_prior_kernels();
  const int hd = a.head_dim;
  const int head = blockIdx.x;
  // Tiles with the most keys first, so that the short ones fill the tail of the grid.
  const int64_t row0 = static_cast<int64_t>(gridDim.y - 1 - blockIdx.y) * kRows;
  const int kv_head = head / (a.n_heads / a.n_kv_heads);
  const int64_t q_stride = static_cast<int64_t>(a.n_heads) * hd;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;  // mma fragment coordinates

  // Rows past the end see key 0 only (their output is not written).
  if (tid < kRows) tile_pos[tid] = row0 + tid < a.rows ? a.pos[row0 + tid] : 0;
  // Zero the padded head dims of the key and value buffers once; cp.async never writes them.
  for (int i = tid; i < 4 * kKeys * (HD / 8); i += kThreads) {
    const int r = i / (HD / 8), c = (i % (HD / 8)) * 8;
    if (c >= hd) *reinterpret_cast<uint4*>(ks + r * kStride + c) = uint4{0, 0, 0, 0};
  }
  // q rounded to f16, zeros past head_dim and past the last row.
  for (int i = tid; i < kRows * (HD / 4); i += kThreads) {
    const int r = i / (HD / 4), c = (i % (HD / 4)) * 4;
    float4 x = {0, 0, 0, 0};
    if (c < hd && row0 + r < a.rows)
      x = *reinterpret_cast<const float4*>(a.q + (row0 + r) * q_stride + static_cast<int64_t>(head) * hd + c);
    __half2* dst = reinterpret_cast<__half2*>(qs + r * kStride + c);
    dst[0] = __floats2half2_rn(x.x, x.y);
    dst[1] = __floats2half2_rn(x.z, x.w);
  }
  __syncthreads();
  int max_pos = 0;
  for (int r = 0; r < kRows; ++r) max_pos = max(max_pos, tile_pos[r]);
  const int pos_lo = tile_pos[warp * 16 + g], pos_hi = tile_pos[warp * 16 + g + 8];
  const int n_blocks = max_pos / kKeys + 1;

  // Copies key block b into buffer b % 2; keys past max_pos repeat row max_pos (masked).
  const __half* kc = static_cast<const __half*>(a.k_cache) + static_cast<int64_t>(kv_head) * hd;
  const __half* vc = static_cast<const __half*>(a.v_cache) + static_cast<int64_t>(kv_head) * hd;
  const int chunks = hd / 8;
  auto load_block = [&](int b) {
    __half* kd = ks + (b & 1) * kKeys * kStride;
    __half* vd = vs + (b & 1) * kKeys * kStride;
    for (int i = tid; i < kKeys * chunks; i += kThreads) {
      const int r = i / chunks, c = (i % chunks) * 8;
      const int j = min(b * kKeys + r, max_pos);
      const int64_t off = static_cast<int64_t>(max(j - a.kv_shift, 0)) * a.kv_dim + c;
      cp_async16(kd + r * kStride + c, kc + off);
      cp_async16(vd + r * kStride + c, vc + off);
    }
  };
  load_block(0);
  cp_async_commit();

  uint32_t qf[HD / 16][4];
#pragma unroll
  for (int kk = 0; kk < HD / 16; ++kk)
    mma::ldmatrix_x4(smem_addr(qs + (warp * 16 + (lane % 16)) * kStride + kk * 16 + 8 * (lane / 16)), qf[kk]);

  const float sl = 1.4426950408889634f / sqrtf(static_cast<float>(hd));  // log2(e)/sqrt(d): exp2 below
  float o[HD / 8][4];
#pragma unroll
  for (int n = 0; n < HD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;

  for (int b = 0; b < n_blocks; ++b) {
    if (b + 1 < n_blocks) load_block(b + 1);
    cp_async_commit();
    cp_async_wait_one();
    __syncthreads();
    const __half* kb = ks + (b & 1) * kKeys * kStride;
    const __half* vb = vs + (b & 1) * kKeys * kStride;

    float s[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk)
#pragma unroll
      for (int np = 0; np < kKeys / 16; ++np) {
        uint32_t r[4];
        const __half* row = kb + (np * 16 + (lane % 8) + 8 * (lane / 16)) * kStride;
        mma::ldmatrix_x4(smem_addr(row + kk * 16 + 8 * ((lane / 8) % 2)), r);
        mma::mma_16816(s[2 * np], qf[kk], r[0], r[1]);
        mma::mma_16816(s[2 * np + 1], qf[kk], r[2], r[3]);
      }

    // Scale to log2 units and mask keys past each row's position.
    const int j0 = b * kKeys;
    const bool masked = j0 + kKeys - 1 > min(pos_lo, pos_hi);
    float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      const int j = j0 + n * 8 + 2 * t;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = s[n][e] * sl;
        if (masked && j + (e & 1) > (e < 2 ? pos_lo : pos_hi)) v = -INFINITY;
        s[n][e] = v;
      }
      mx_lo = fmaxf(mx_lo, fmaxf(s[n][0], s[n][1]));
      mx_hi = fmaxf(mx_hi, fmaxf(s[n][2], s[n][3]));
    }
#pragma unroll
    for (int off = 1; off <= 2; off *= 2) {
      mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xFFFFFFFFu, mx_lo, off));
      mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xFFFFFFFFu, mx_hi, off));
    }
    // Every row sees key 0 in block 0, so the new maxima are finite.
    const float mn_lo = fmaxf(m_lo, mx_lo), mn_hi = fmaxf(m_hi, mx_hi);
    const float c_lo = exp2f(m_lo - mn_lo), c_hi = exp2f(m_hi - mn_hi);
    m_lo = mn_lo;
    m_hi = mn_hi;
    l_lo *= c_lo;
    l_hi *= c_hi;
#pragma unroll
    for (int n = 0; n < HD / 8; ++n) {
      o[n][0] *= c_lo;
      o[n][1] *= c_lo;
      o[n][2] *= c_hi;
      o[n][3] *= c_hi;
    }
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      s[n][0] = exp2f(s[n][0] - mn_lo);
      s[n][1] = exp2f(s[n][1] - mn_lo);
      s[n][2] = exp2f(s[n][2] - mn_hi);
      s[n][3] = exp2f(s[n][3] - mn_hi);
      l_lo += s[n][0] + s[n][1];
      l_hi += s[n][2] + s[n][3];
    }

    // O += P·V with P as its two f16 parts (the A operand of a 16-key step is two score tiles).
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      uint32_t ph[4], pl[4];
      split_half2(s[2 * kk][0], s[2 * kk][1], ph[0], pl[0]);
      split_half2(s[2 * kk][2], s[2 * kk][3], ph[1], pl[1]);
      split_half2(s[2 * kk + 1][0], s[2 * kk + 1][1], ph[2], pl[2]);
      split_half2(s[2 * kk + 1][2], s[2 * kk + 1][3], ph[3], pl[3]);
#pragma unroll
      for (int dp = 0; dp < HD / 16; ++dp) {
        uint32_t r[4];
        mma::ldmatrix_x4_trans(smem_addr(vb + (kk * 16 + (lane % 16)) * kStride + dp * 16 + 8 * (lane / 16)), r);
        mma::mma_16816(o[2 * dp], pl, r[0], r[1]);
        mma::mma_16816(o[2 * dp + 1], pl, r[2], r[3]);
        mma::mma_16816(o[2 * dp], ph, r[0], r[1]);
        mma::mma_16816(o[2 * dp + 1], ph, r[2], r[3]);
      }
    }
    __syncthreads();  // this buffer is refilled by the next iteration's copy
  }

#pragma unroll
  for (int off = 1; off <= 2; off *= 2) {
    l_lo += __shfl_xor_sync(0xFFFFFFFFu, l_lo, off);
    l_hi += __shfl_xor_sync(0xFFFFFFFFu, l_hi, off);
  }
  const float inv_lo = 1.0f / l_lo, inv_hi = 1.0f / l_hi;
  const int64_t r_lo = row0 + warp * 16 + g, r_hi = r_lo + 8;
  float* out = a.out + static_cast<int64_t>(head) * hd;
#pragma unroll
  for (int n = 0; n < HD / 8; ++n) {
    const int d = n * 8 + 2 * t;
    if (d >= hd) continue;
    if (r_lo < a.rows) *reinterpret_cast<float2*>(out + r_lo * q_stride + d) = float2{o[n][0] * inv_lo, o[n][1] * inv_lo};
    if (r_hi < a.rows) *reinterpret_cast<float2*>(out + r_hi * q_stride + d) = float2{o[n][2] * inv_hi, o[n][3] * inv_hi};
  }
}

template <int HD>
void launch_hd(const AttentionArgs& a) {
  constexpr size_t smem = static_cast<size_t>(5 * kRows) * (HD + 8) * sizeof(__half);  // q + 2 × (k, v)
  static const bool configured = [] {
    check(cudaFuncSetAttribute(flash_attention_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(smem)),
          "flash attention shared memory");
    return true;
  }();
  (void)configured;
  const dim3 grid(static_cast<unsigned>(a.n_heads), static_cast<unsigned>((a.rows + kRows - 1) / kRows));
  launch_chained(flash_attention_kernel<HD>, grid, dim3(kThreads), smem, a);
}

}  // namespace

bool flash_attention_supported(int head_dim) { return head_dim > 0 && head_dim % 8 == 0 && head_dim <= 128; }

void launch_flash_attention(const AttentionArgs& a) {
  if (a.rows == 0) return;
  if (!a.kv_f16 || !flash_attention_supported(a.head_dim))
    throw std::runtime_error("flash attention needs an f16 cache and a head_dim that is a multiple of 8 up to 128");
  if (a.head_dim <= 16)
    launch_hd<16>(a);
  else if (a.head_dim <= 32)
    launch_hd<32>(a);
  else if (a.head_dim <= 64)
    launch_hd<64>(a);
  else
    launch_hd<128>(a);
  check_launch("flash_attention");
}

}  // namespace greta::cuda
