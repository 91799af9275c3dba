// Attention over the KV cache: out[i] = softmax(q[i]·K[0..pos[i]] / sqrt(d)) · V, per head.
//
// One block of four warps per (segment, head, query row). Each warp takes chunks of 32
// keys in turn: every lane scores one key (an f32 fmaf dot over head_dim), the warp keeps
// an online softmax (running max m, running sum l, unnormalized output acc over its
// lanes' dimensions, rescaled by expf(m_old − m_new) when the max grows), and the four
// warps are merged through shared memory at the end.
//
// Prefill (many rows, causal through pos[i]) runs the whole key range in one segment.
// Decode splits a long cache into segments so that one query still fills the GPU; each
// segment writes (m, l, acc) and a second pass merges them. Key j is read from cache row
// max(j − kv_shift, 0); kv_shift > 0 only under fault injection.
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kKeyGroup = 8;  // value rows loaded together before they are used

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, off));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  return v;
}

// LaneDims: output dimensions per lane (lane, lane+32, ...): head_dim ≤ 32 * LaneDims.
template <int LaneDims>
__global__ void __launch_bounds__(32 * kWarps) attention_kernel(AttentionArgs a, int n_splits, int64_t split_len,
                                                                float* __restrict__ partial) {
  wait_for_prior_kernels();
  allow_next_kernel();
  extern __shared__ __align__(16) float smem[];
  const int hd = a.head_dim;
  float* qs = smem;                   // [hd]
  float* wacc = qs + hd;              // [kWarps][hd]
  float* wm = wacc + kWarps * hd;     // [kWarps]
  float* wl = wm + kWarps;            // [kWarps]
  const int split = blockIdx.x, head = blockIdx.y;
  const int64_t row = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kv_head = head / (a.n_heads / a.n_kv_heads);
  const int64_t q_stride = static_cast<int64_t>(a.n_heads) * hd;
  const int64_t n_keys = static_cast<int64_t>(a.pos[row]) + 1;
  const int64_t begin = split * split_len;
  const int64_t end = min(n_keys, begin + split_len);

  for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = a.q[row * q_stride + static_cast<int64_t>(head) * hd + i];
  __syncthreads();

  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  const float* k_base = static_cast<const float*>(a.k_cache) + static_cast<int64_t>(kv_head) * hd;
  const float* v_base = static_cast<const float*>(a.v_cache) + static_cast<int64_t>(kv_head) * hd;
  float m = -INFINITY, l = 0.0f;
  float acc[LaneDims];
#pragma unroll
  for (int i = 0; i < LaneDims; ++i) acc[i] = 0.0f;

  for (int64_t base = begin + 32 * warp; base < end; base += 32 * kWarps) {
    const int64_t j = base + lane;
    float s = -INFINITY;
    if (j < end) {
      const float* kp = k_base + max(j - a.kv_shift, int64_t{0}) * a.kv_dim;
      float dot = 0.0f;
      // Four independent partial sums and 16-byte reads of both q (shared) and the key row:
      // a single chain of dependent loads and FMAs leaves the warp waiting on memory.
      if ((hd & 3) == 0) {
        float p0 = 0.0f, p1 = 0.0f, p2 = 0.0f, p3 = 0.0f;
#pragma unroll 4
        for (int d = 0; d < hd; d += 4) {
          const float4 kv = *reinterpret_cast<const float4*>(kp + d);
          const float4 qv = *reinterpret_cast<const float4*>(qs + d);
          p0 = fmaf(qv.x, kv.x, p0);
          p1 = fmaf(qv.y, kv.y, p1);
          p2 = fmaf(qv.z, kv.z, p2);
          p3 = fmaf(qv.w, kv.w, p3);
        }
        dot = (p0 + p1) + (p2 + p3);
      } else {
        for (int d = 0; d < hd; ++d) dot = fmaf(qs[d], kp[d], dot);
      }
      s = dot * scale;
    }
    const float m_new = fmaxf(m, warp_max(s));  // finite: key `base` is in range
    const float corr = expf(m - m_new);         // 0 on the first chunk (m = −inf)
    const float p = j < end ? expf(s - m_new) : 0.0f;
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int i = 0; i < LaneDims; ++i) acc[i] *= corr;
    // Values: keys in groups of kKeyGroup, each group's rows loaded before any is used so
    // that the loads overlap. Keys past the end have p = 0 and read the last valid row.
    const int64_t last = end - 1;
    for (int j0 = 0; j0 < 32 && base + j0 < end; j0 += kKeyGroup) {
      float pj[kKeyGroup], vv[kKeyGroup][LaneDims];
#pragma unroll
      for (int u = 0; u < kKeyGroup; ++u) {
        pj[u] = __shfl_sync(0xFFFFFFFFu, p, j0 + u);
        const int64_t key = min(base + j0 + u, last);
        const float* vp = v_base + max(key - a.kv_shift, int64_t{0}) * a.kv_dim;
#pragma unroll
        for (int i = 0; i < LaneDims; ++i) {
          const int d = lane + 32 * i;
          vv[u][i] = d < hd ? vp[d] : 0.0f;
        }
      }
#pragma unroll
      for (int u = 0; u < kKeyGroup; ++u)
#pragma unroll
        for (int i = 0; i < LaneDims; ++i) acc[i] = fmaf(pj[u], vv[u][i], acc[i]);
    }
    m = m_new;
  }

  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < LaneDims; ++i) {
    const int d = lane + 32 * i;
    if (d < hd) wacc[warp * hd + d] = acc[i];
  }
  __syncthreads();

  float mx = -INFINITY;
  for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, wm[w]);
  float ew[kWarps], sum = 0.0f;
  for (int w = 0; w < kWarps; ++w) {
    ew[w] = wm[w] == -INFINITY ? 0.0f : expf(wm[w] - mx);  // a warp that saw no key adds nothing
    sum += wl[w] * ew[w];
  }
  const int64_t item = (row * a.n_heads + head) * n_splits + split;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int w = 0; w < kWarps; ++w) o = fmaf(wacc[w * hd + d], ew[w], o);
    if (n_splits == 1)
      a.out[row * q_stride + static_cast<int64_t>(head) * hd + d] = o * (1.0f / sum);
    else
      partial[item * (hd + 2) + d] = o;
  }
  if (n_splits > 1 && threadIdx.x == 0) {
    partial[item * (hd + 2) + hd] = mx;  // −inf for a segment past this row's keys
    partial[item * (hd + 2) + hd + 1] = sum;
  }
}

// Second pass of a split decode: merges the segments of one (head, row).
__global__ void attention_combine_kernel(const float* __restrict__ partial, int n_splits, int n_heads, int hd,
                                         float* __restrict__ out) {
  wait_for_prior_kernels();
  allow_next_kernel();
  const int head = blockIdx.x;
  const int64_t row = blockIdx.y;
  const float* p = partial + (row * n_heads + head) * n_splits * (hd + 2);
  float mx = -INFINITY;
  for (int s = 0; s < n_splits; ++s) mx = fmaxf(mx, p[s * (hd + 2) + hd]);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f, sum = 0.0f;
    for (int s = 0; s < n_splits; ++s) {
      const float ms = p[s * (hd + 2) + hd];
      const float e = ms == -INFINITY ? 0.0f : expf(ms - mx);
      o = fmaf(p[s * (hd + 2) + d], e, o);
      sum = fmaf(p[s * (hd + 2) + hd + 1], e, sum);
    }
    out[row * n_heads * hd + static_cast<int64_t>(head) * hd + d] = o * (1.0f / sum);
  }
}

}  // namespace

void launch_attention(const AttentionArgs& a, int n_splits, int64_t split_len, float* partial) {
  if (a.rows == 0) return;
  const dim3 grid(static_cast<unsigned>(n_splits), static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.rows));
  const size_t smem = (static_cast<size_t>(a.head_dim) * (1 + kWarps) + 2 * kWarps) * sizeof(float);
  if (a.head_dim <= 32)
    launch_chained(attention_kernel<1>, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
  else if (a.head_dim <= 64)
    launch_chained(attention_kernel<2>, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
  else if (a.head_dim <= 128)
    launch_chained(attention_kernel<4>, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
  else
    launch_chained(attention_kernel<8>, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
  check_launch("attention");
  if (n_splits > 1) {
    launch_chained(attention_combine_kernel, dim3(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.rows)),
                   dim3(128), 0, partial, n_splits, a.n_heads, a.head_dim, a.out);
    check_launch("attention_combine");
  }
}

}  // namespace greta::cuda
