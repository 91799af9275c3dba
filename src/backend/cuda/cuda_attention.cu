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
//
// An f16 cache with head_dim a multiple of 8 goes to attention_f16_kernel (lanes over
// head dimensions, 16-byte key/value loads, the query heads of a GQA group sharing each
// load), or, for split decode launches in the fast precision with head_dim 64 or 128, to
// attention_f16_mma_kernel (the cache rows streamed into shared memory, q·k and p·v on
// the tensor cores); the f32 cache keeps the kernel above, bit for bit as before.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "backend/cuda/cuda_attention_mma.h"
#include "backend/cuda/cuda_attention_parts.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_mbarrier.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

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

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }

// LaneDims: output dimensions per lane (lane, lane+32, ...): head_dim ≤ 32 * LaneDims.
// E: the cache element (float, or __half for head dims the f16 kernel does not take).
template <int LaneDims, class E>
__global__ void __launch_bounds__(32 * kWarps) attention_kernel(AttentionArgs a, int n_splits, int64_t split_len,
                                                                float* __restrict__ partial) {
  wait_for_prior_kernels();
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
  const E* k_base = static_cast<const E*>(a.k_cache) + static_cast<int64_t>(kv_head) * hd;
  const E* v_base = static_cast<const E*>(a.v_cache) + static_cast<int64_t>(kv_head) * hd;
  float m = -INFINITY, l = 0.0f;
  float acc[LaneDims];
#pragma unroll
  for (int i = 0; i < LaneDims; ++i) acc[i] = 0.0f;

  for (int64_t base = begin + 32 * warp; base < end; base += 32 * kWarps) {
    const int64_t j = base + lane;
    float s = -INFINITY;
    if (j < end) {
      const E* kp = k_base + max(j - a.kv_shift, int64_t{0}) * a.kv_dim;
      float dot = 0.0f;
      // Four independent partial sums and 16-byte reads of both q (shared) and the key row:
      // a single chain of dependent loads and FMAs leaves the warp waiting on memory.
      if constexpr (!std::is_same_v<E, float>) {
        for (int d = 0; d < hd; ++d) dot = fmaf(qs[d], to_float(kp[d]), dot);
      } else if ((hd & 3) == 0) {
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
        const E* vp = v_base + max(key - a.kv_shift, int64_t{0}) * a.kv_dim;
#pragma unroll
        for (int i = 0; i < LaneDims; ++i) {
          const int d = lane + 32 * i;
          vv[u][i] = d < hd ? to_float(vp[d]) : 0.0f;
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

// 16 bytes of a cache row, a plain load (see load_prior) whose line goes first out of L2.
// A cache split into segments is read once a step and soon outgrows L2 (8192 keys: 33 MB a
// layer); at the default priority it pushed out the activations that the next kernels read
// (the add + rmsnorm after o took 4.6 us at depth 8192 against 2.9 at 100 keys).
__device__ __forceinline__ uint4 load_kv_evict_first(const uint4* p, uint64_t policy) {
  uint4 v;
  asm volatile("ld.global.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p), "l"(policy));
  return v;
}

// f16 cache, head_dim a multiple of 8 (≤ 256). A key row is read by a group of LPK lanes,
// 8 halves (16 bytes) each, so a warp reads 32/LPK whole rows per load, coalesced; each
// block serves HB query heads of one GQA group, which share every key and value load
// (4 heads per KV head on the 8B shape: a quarter of the cache traffic of one head per
// block). Per chunk a group takes NK keys: partial dots are summed over the group's lanes,
// and the online softmax runs per head over the warp's chunk. Each group accumulates its
// own keys' weighted values; groups share the warp's running maximum, so they are summed
// once at the end, and the four warps are merged as in the kernel above. With
// f16_operands (the fast precision) q is rounded to f16 and the softmax runs in log2 units
// with exp2, as in the flash-attention prefill, whose probabilities reach P·V at f32
// precision (two f16 parts): a row's attention then differs between the routes only in
// summation order.
// F16Warp is one warp's share of that arithmetic (attention_f16_kernel below);
// finish_f16_block, the merge of the four warps, serves the tensor-core kernel too.
template <int LPK, int HB>
struct F16Warp {
  static constexpr int NG = 32 / LPK;  // key groups per warp
  static constexpr int NK = 4;         // keys per group per chunk
  static constexpr int kChunk = NG * NK;
  static constexpr int kStep = kChunk * kWarps;  // keys a block takes per chunk

  int hd, grp, d0;
  bool active;  // lanes past head_dim (LPK rounded up to a power of two) load nothing
  bool f16ops;
  float scale;
  float m[HB], l[HB], acc[HB][8];

  __device__ __forceinline__ F16Warp(const AttentionArgs& a, int lane)
      : hd(a.head_dim), grp(lane / LPK), d0((lane % LPK) * 8), active(d0 < a.head_dim), f16ops(a.f16_operands) {
    // With f16 operands: the prefill's score scale, the same float expression as in
    // flash_attention_kernel.
    scale = (f16ops ? 1.4426950408889634f : 1.0f) / sqrtf(static_cast<float>(hd));
#pragma unroll
    for (int h = 0; h < HB; ++h) {
      m[h] = -INFINITY;
      l[h] = 0.0f;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[h][e] = 0.0f;
    }
  }

  // q of the block's heads into shared memory (the prefill's q, rounded to f16, with f16
  // operands), by `threads` threads from t0.
  __device__ __forceinline__ void stage_q(const AttentionArgs& a, int head0, int64_t row, float* qs, int t0,
                                          int threads) const {
    const int64_t q_stride = static_cast<int64_t>(a.n_heads) * hd;
    for (int t = t0; t < HB * hd; t += threads) {
      const float qv = a.q[row * q_stride + static_cast<int64_t>(head0) * hd + t];
      qs[t] = f16ops ? __half2float(__float2half_rn(qv)) : qv;
    }
  }

  // The chunk of keys base + grp + NG·i (i < NK) whose rows are kr, vr; keys from `end` on
  // get probability 0 (their rows are any valid row).
  __device__ __forceinline__ void attend(const uint4 (&kr)[NK], const uint4 (&vr)[NK], const float* qs, int64_t base,
                                         int64_t end) {
    float s[NK][HB];
#pragma unroll
    for (int h = 0; h < HB; ++h) {
      float qh[8];
      const float4 lo = active ? *reinterpret_cast<const float4*>(qs + h * hd + d0) : float4{0, 0, 0, 0};
      const float4 hi = active ? *reinterpret_cast<const float4*>(qs + h * hd + d0 + 4) : float4{0, 0, 0, 0};
      qh[0] = lo.x, qh[1] = lo.y, qh[2] = lo.z, qh[3] = lo.w, qh[4] = hi.x, qh[5] = hi.y, qh[6] = hi.z, qh[7] = hi.w;
#pragma unroll
      for (int i = 0; i < NK; ++i) {
        const __half2* k2 = reinterpret_cast<const __half2*>(&kr[i]);
        float p0 = 0.0f, p1 = 0.0f;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 f = __half22float2(k2[e]);
          p0 = fmaf(qh[2 * e], f.x, p0);
          p1 = fmaf(qh[2 * e + 1], f.y, p1);
        }
        s[i][h] = p0 + p1;
      }
    }
#pragma unroll
    for (int i = 0; i < NK; ++i)
#pragma unroll
      for (int h = 0; h < HB; ++h) {
        float dot = s[i][h];
#pragma unroll
        for (int off = LPK / 2; off > 0; off /= 2) dot += __shfl_xor_sync(0xFFFFFFFFu, dot, off);
        s[i][h] = base + grp + NG * i < end ? dot * scale : -INFINITY;
      }
#pragma unroll
    for (int h = 0; h < HB; ++h) {
      float cm = s[0][h];
#pragma unroll
      for (int i = 1; i < NK; ++i) cm = fmaxf(cm, s[i][h]);
#pragma unroll
      for (int off = 16; off >= LPK; off /= 2) cm = fmaxf(cm, __shfl_xor_sync(0xFFFFFFFFu, cm, off));
      // The maximum is the warp's (finite: key `base` is in range); when it does not grow
      // the rescaling would multiply by exactly 1, so it is skipped (a uniform branch).
      if (cm > m[h]) {
        const float corr = softmax_exp(m[h] - cm, f16ops);
        l[h] *= corr;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[h][e] *= corr;
        m[h] = cm;
      }
#pragma unroll
      for (int i = 0; i < NK; ++i) {
        s[i][h] = softmax_exp(s[i][h] - m[h], f16ops);  // 0 for keys past the end
        l[h] += s[i][h];
      }
    }
#pragma unroll
    for (int i = 0; i < NK; ++i) {
      const __half2* v2 = reinterpret_cast<const __half2*>(&vr[i]);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 f = __half22float2(v2[e]);
#pragma unroll
        for (int h = 0; h < HB; ++h) {
          acc[h][2 * e] = fmaf(s[i][h], f.x, acc[h][2 * e]);
          acc[h][2 * e + 1] = fmaf(s[i][h], f.y, acc[h][2 * e + 1]);
        }
      }
    }
  }

  // Sums the warp's groups (all under the warp's maximum m) and leaves the warp's m, l and
  // acc in shared memory for finish().
  __device__ __forceinline__ void publish(int warp, int lane, float* wacc, float* wm, float* wl) {
#pragma unroll
    for (int off = 16; off >= LPK; off /= 2)
#pragma unroll
      for (int h = 0; h < HB; ++h) {
        l[h] += __shfl_xor_sync(0xFFFFFFFFu, l[h], off);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[h][e] += __shfl_xor_sync(0xFFFFFFFFu, acc[h][e], off);
      }
    if (lane == 0)
#pragma unroll
      for (int h = 0; h < HB; ++h) {
        wm[warp * HB + h] = m[h];
        wl[warp * HB + h] = l[h];
      }
    if (grp == 0 && active)
#pragma unroll
      for (int h = 0; h < HB; ++h)
#pragma unroll
        for (int e = 0; e < 8; ++e) wacc[(warp * HB + h) * hd + d0 + e] = acc[h][e];
  }
};

// Shared memory of attention_f16_kernel: [kWarps][HB][hd] acc, [kWarps][HB] m and l,
// [HB][hd] q (floats).
size_t f16_block_floats(int hb, int hd) {
  return static_cast<size_t>(kWarps) * hb * (hd + 2) + static_cast<size_t>(hb) * hd;
}

// One warp's rows in registers: each warp requests its next chunk's key and value rows
// before the current chunk's arithmetic. kEvictFirst: the rows' lines go first out of L2
// (load_kv_evict_first); one segment reads with plain loads. Four heads a block hold two
// chunks of rows in registers (168): three blocks a multiprocessor.
template <int LPK, int HB, bool kEvictFirst>
__global__ void __launch_bounds__(32 * kWarps, HB == 4 ? 3 : 4) attention_f16_kernel(AttentionArgs a, int n_splits,
                                                                      int64_t split_len, float* __restrict__ partial) {
  using W = F16Warp<LPK, HB>;
  constexpr int NG = W::NG, NK = W::NK;
  extern __shared__ __align__(16) float smem[];
  const int hd = a.head_dim;
  float* wacc = smem;                          // [kWarps][HB][hd]
  float* wm = wacc + kWarps * HB * hd;         // [kWarps][HB]
  float* wl = wm + kWarps * HB;                // [kWarps][HB]
  float* qs = wl + kWarps * HB;                // [HB][hd]
  const int split = blockIdx.x, head0 = blockIdx.y * HB;
  const int64_t row = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  W w(a, lane);
  const int kv_head = head0 / (a.n_heads / a.n_kv_heads);
  const Segment seg = segment_of(a, n_splits, split_len, split, row);
  const int64_t begin = seg.begin, end = seg.end;
  const __half* k_base = static_cast<const __half*>(a.k_cache) + static_cast<int64_t>(kv_head) * hd + w.d0;
  const __half* v_base = static_cast<const __half*>(a.v_cache) + static_cast<int64_t>(kv_head) * hd + w.d0;

  // Requests the rows of the chunk at `base`; keys past the end read the last valid row
  // (they get probability 0).
  const uint64_t policy = kEvictFirst ? wg::l2_evict_first_policy() : 0;
  auto request = [&](int64_t base, uint4(&kr)[NK], uint4(&vr)[NK]) {
#pragma unroll
    for (int i = 0; i < NK; ++i) {
      const int64_t key = min(base + w.grp + NG * i, end - 1);
      const int64_t off = max(key - a.kv_shift, int64_t{0}) * a.kv_dim;
      const bool on = w.active;
      if constexpr (kEvictFirst) {
        kr[i] = on ? load_kv_evict_first(reinterpret_cast<const uint4*>(k_base + off), policy) : uint4{0, 0, 0, 0};
        vr[i] = on ? load_kv_evict_first(reinterpret_cast<const uint4*>(v_base + off), policy) : uint4{0, 0, 0, 0};
      } else {
        kr[i] = on ? load_prior(reinterpret_cast<const uint4*>(k_base + off)) : uint4{0, 0, 0, 0};
        vr[i] = on ? load_prior(reinterpret_cast<const uint4*>(v_base + off)) : uint4{0, 0, 0, 0};
      }
    }
  };
  const int64_t step = W::kStep;
  const int64_t first = begin + W::kChunk * warp;
  // Everything above reads only the step's inputs (positions, copied before its first
  // kernel); the cache and q are written by the previous kernels.
  wait_for_prior_kernels();
  uint4 kr[NK], vr[NK];
  if (first < end) request(first, kr, vr);
  w.stage_q(a, head0, row, qs, threadIdx.x, blockDim.x);
  __syncthreads();

  for (int64_t base = first; base < end; base += step) {
    // The next chunk is requested before this one's arithmetic, so that its memory
    // latency overlaps the work.
    uint4 kn[NK], vn[NK];
    if (base + step < end) request(base + step, kn, vn);
    w.attend(kr, vr, qs, base, end);
#pragma unroll
    for (int i = 0; i < NK; ++i) {
      kr[i] = kn[i];
      vr[i] = vn[i];
    }
  }
  w.publish(warp, lane, wacc, wm, wl);
  __syncthreads();
  finish_f16_block<HB>(a, n_splits, partial, head0, row, split, wacc, wm, wl);
}

// Second pass of a split decode: merges the segments of one (head, row). A thread's
// segment values do not depend on the merge weights, so they are all requested at once,
// together with the segment maxima and sums (one memory latency instead of three); the
// weights expf(m_s − max) are computed once into shared memory, and each output adds its
// segments in order.
constexpr int kMaxSplits = 64;  // the backend never asks for more
__global__ void attention_combine_kernel(const float* partial, int n_splits, int n_heads, int hd,
                                         int log2_units, float* __restrict__ out) {
  wait_for_prior_kernels();
  __shared__ float ms[kMaxSplits], es[kMaxSplits], ls[kMaxSplits];
  const int head = blockIdx.x;
  const int64_t row = blockIdx.y;
  const float* p = partial + (row * n_heads + head) * n_splits * (hd + 2);
  float v[kMaxSplits];
  auto request = [&](int d) {
#pragma unroll
    for (int s = 0; s < kMaxSplits; ++s) v[s] = s < n_splits && d < hd ? p[s * (hd + 2) + d] : 0.0f;
  };
  request(threadIdx.x);
  for (int s = threadIdx.x; s < n_splits; s += blockDim.x) {
    ms[s] = p[s * (hd + 2) + hd];
    ls[s] = p[s * (hd + 2) + hd + 1];
  }
  __syncthreads();
  float mx = -INFINITY;
  for (int s = 0; s < n_splits; ++s) mx = fmaxf(mx, ms[s]);
  for (int s = threadIdx.x; s < n_splits; s += blockDim.x) es[s] = merge_weight(ms[s], mx, log2_units);
  __syncthreads();
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    if (d != static_cast<int>(threadIdx.x)) request(d);  // head dims past the block's threads
    out[row * n_heads * hd + static_cast<int64_t>(head) * hd + d] =
        merge_segments<kMaxSplits>(n_splits, v, ls, [&](int s) { return es[s]; });
  }
}

// Query heads a block of the f16 kernels: split, the GQA group up to 4 (more would cost
// registers), whose heads share each key and value load, which pays where the cache is
// long and the kernel streams it from memory (8B, ~8200 keys, H100: one head a block there
// too, tg128 @ d8192 324 -> 311); one segment (up to 128 keys), one head: there the kernel
// is a chain of latencies, and one head a block puts a quarter of the instructions on each
// warp's chain (7.9 -> 4.6 us a layer, tg128 384-388 -> 396-397; one head a block also
// where 32 heads x the segments fit in one wave, up to 16 segments, was within the noise
// at d512 and d1024). Each head's arithmetic is the same whatever else its block holds, so
// the results keep their bits.
int heads_a_block(const AttentionArgs& a, bool split) {
  const int group = a.n_heads / a.n_kv_heads;
  return !split ? 1 : group % 4 == 0 ? 4 : group % 2 == 0 ? 2 : 1;
}

// The register kernel's instance for a's head size and a launch of one segment or several
// (split), given to fn(kernel, heads a block, shared memory): lanes per key row from
// head_dim. Split launches read the cache evict-first in L2.
template <class Fn>
void with_f16_kernel(const AttentionArgs& a, bool split, Fn fn) {
  const int hb = heads_a_block(a, split);
  const size_t smem = f16_block_floats(hb, a.head_dim) * sizeof(float);
  auto heads = [&](auto lanes) {
    constexpr int LPK = decltype(lanes)::value;
    if (!split)
      fn(attention_f16_kernel<LPK, 1, false>, hb, smem);
    else if (hb == 4)
      fn(attention_f16_kernel<LPK, 4, true>, hb, smem);
    else if (hb == 2)
      fn(attention_f16_kernel<LPK, 2, true>, hb, smem);
    else
      fn(attention_f16_kernel<LPK, 1, true>, hb, smem);
  };
  const int hd = a.head_dim;
  if (hd <= 8)
    heads(std::integral_constant<int, 1>{});
  else if (hd <= 16)
    heads(std::integral_constant<int, 2>{});
  else if (hd <= 32)
    heads(std::integral_constant<int, 4>{});
  else if (hd <= 64)
    heads(std::integral_constant<int, 8>{});
  else if (hd <= 128)
    heads(std::integral_constant<int, 16>{});
  else
    heads(std::integral_constant<int, 32>{});
}

template <class E>
void launch_generic(const AttentionArgs& a, int n_splits, int64_t split_len, float* partial) {
  const dim3 grid(static_cast<unsigned>(n_splits), static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.rows));
  const size_t smem = (static_cast<size_t>(a.head_dim) * (1 + kWarps) + 2 * kWarps) * sizeof(float);
  if (a.head_dim <= 32)
    launch_chained(attention_kernel<1, E>, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
  else if (a.head_dim <= 64)
    launch_chained(attention_kernel<2, E>, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
  else if (a.head_dim <= 128)
    launch_chained(attention_kernel<4, E>, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
  else
    launch_chained(attention_kernel<8, E>, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
}

}  // namespace

bool attention_even_segments(const AttentionArgs& a) { return a.kv_f16 && a.head_dim % 8 == 0 && a.head_dim <= 256; }

// Keys a segment of the cluster launch may hold before the combine pass's finer segments
// pay more (8B q4_k_m, H200, tg128 against the plain launch with its combine, 8 cluster
// segments: d8192 +0.8%, d12288 -0.6%, d16384 -1.4%; with 9, d8192 +2%).
constexpr int64_t kClusterSegmentKeys = 1280;

SplitKernel split_kernel_for(const AttentionArgs& a, SplitKernel wanted, int64_t max_keys) {
  if (wanted != SplitKernel::Cluster) return wanted;
  const int n = attention_cluster_segments(a, heads_a_block(a, true));
  return n > 0 && max_keys <= n * kClusterSegmentKeys ? wanted : SplitKernel::TensorCores;
}

int attention_segments_in_one_wave(const AttentionArgs& a, SplitKernel kind) {
  const int hb = heads_a_block(a, true);
  if (kind == SplitKernel::Cluster) {
    if (const int n = attention_cluster_segments(a, hb); n > 0) return n;
  }
  int blocks = 1;
  if (kind != SplitKernel::Registers && attention_mma_applies(a, hb))
    blocks = attention_mma_resident_blocks(a, hb);
  else
    with_f16_kernel(a, true, [&](auto kernel, int, size_t smem) { blocks = resident_blocks(kernel, 32 * kWarps, smem); });
  const int64_t per_segment = a.rows * (a.n_heads / hb);
  return static_cast<int>(std::clamp<int64_t>(blocks / per_segment, 1, kMaxSplits));
}

namespace {

// Split launches on the tensor cores (the f16 kernel's rows, several segments).
bool mma_launch(const AttentionArgs& a, int n_splits, SplitKernel kind) {
  return a.kv_f16 && attention_even_segments(a) && n_splits > 1 && kind != SplitKernel::Registers &&
         attention_mma_applies(a, heads_a_block(a, true));
}
// Of those, the ones whose segments merge inside a cluster (even segments, within the cap).
bool cluster_launch(const AttentionArgs& a, int n_splits, int64_t split_len, SplitKernel kind) {
  return mma_launch(a, n_splits, kind) && kind == SplitKernel::Cluster && split_len == 0 &&
         n_splits <= attention_cluster_segments(a, heads_a_block(a, true));
}

}  // namespace

bool attention_takes_partials(const AttentionArgs& a, int n_splits, int64_t split_len, SplitKernel kind) {
  return n_splits > 1 && !cluster_launch(a, n_splits, split_len, kind);
}

void launch_attention(const AttentionArgs& a, int n_splits, int64_t split_len, float* partial, SplitKernel kind) {
  if (a.rows == 0) return;
  if (n_splits > kMaxSplits) throw std::runtime_error("attention: more than 64 decode segments");
  const bool f16_kernel = attention_even_segments(a);  // the only one with f16_operands
  if (split_len <= 0 && !f16_kernel) throw std::invalid_argument("attention: even segments need the f16 kernel");
  if (!a.kv_f16)
    launch_generic<float>(a, n_splits, split_len, partial);
  else if (!f16_kernel)
    launch_generic<__half>(a, n_splits, split_len, partial);
  else if (mma_launch(a, n_splits, kind)) {
    const int hb = heads_a_block(a, true);
    if (cluster_launch(a, n_splits, split_len, kind)) {
      launch_attention_cluster(a, hb, n_splits);
      check_launch("attention (cluster)");
      return;
    }
    launch_attention_mma(a, hb, n_splits, split_len, partial);
  } else
    with_f16_kernel(a, n_splits > 1, [&](auto kernel, int hb, size_t smem) {
      const dim3 grid(static_cast<unsigned>(n_splits), static_cast<unsigned>(a.n_heads / hb), static_cast<unsigned>(a.rows));
      launch_chained(kernel, grid, dim3(32 * kWarps), smem, a, n_splits, split_len, partial);
    });
  check_launch("attention");
  if (n_splits > 1) {
    launch_chained(attention_combine_kernel, dim3(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.rows)),
                   dim3(128), 0, partial, n_splits, a.n_heads, a.head_dim, int{f16_kernel && a.f16_operands}, a.out);
    check_launch("attention_combine");
  }
}

}  // namespace greta::cuda
