#pragma once
// Pieces shared by the decode attention kernels over an f16 cache (cuda_attention.cu and
// the tensor-core kernel in cuda_attention_mma.cu): the block's warps, the softmax
// exponent, a block's segment of keys, and the merge of the warps' partial results.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

constexpr int kWarps = 4;  // warps a block that take keys

// Softmax exponent: natural units, or log2 units with the hardware exp2 (the flash
// attention prefill's handling, AttentionArgs::f16_operands).
__device__ __forceinline__ float softmax_exp(float x, bool log2_units) { return log2_units ? exp2f(x) : expf(x); }

// The weight of one part (a warp's or a segment's m) in a merge: its exponent against the
// largest maximum; a part that saw no key weighs nothing.
__device__ __forceinline__ float merge_weight(float m, float mx, bool log2_units) {
  return m == -INFINITY ? 0.0f : softmax_exp(m - mx, log2_units);
}

// One output of a merge of n segments (the combine pass and the cluster merge): their
// numerators v and denominators l, each times weight(s), added in segment order.
template <int kMax, class Weight>
__device__ __forceinline__ float merge_segments(int n, const float (&v)[kMax], const float* l, Weight weight) {
  float o = 0.0f, sum = 0.0f;
#pragma unroll
  for (int s = 0; s < kMax; ++s) {
    if (s < n) {
      const float e = weight(s);
      o = fmaf(v[s], e, o);
      sum = fmaf(l[s], e, sum);
    }
  }
  return o * (1.0f / sum);
}

// The W warps' (m, l, acc) of each head merged (after a barrier over the block): fn(h, d,
// o, mx, sum) for each of the block's HB heads and hd dims, o the merged numerator of
// head h at dim d, mx its maximum, sum its denominator.
template <int HB, int W, class Fn>
__device__ __forceinline__ void merge_warps(int hd, bool f16ops, const float* wacc, const float* wm, const float* wl,
                                            Fn fn) {
  for (int t = threadIdx.x; t < HB * hd; t += blockDim.x) {
    const int h = t / hd, d = t % hd;
    float mx = -INFINITY;
    for (int w = 0; w < W; ++w) mx = fmaxf(mx, wm[w * HB + h]);
    float o = 0.0f, sum = 0.0f;
    for (int w = 0; w < W; ++w) {
      const float mw = wm[w * HB + h];
      const float ew = merge_weight(mw, mx, f16ops);
      sum = fmaf(wl[w * HB + h], ew, sum);
      o = fmaf(wacc[(w * HB + h) * hd + d], ew, o);
    }
    fn(h, d, o, mx, sum);
  }
}

// The block's heads merged over its W warps into the output row (one segment) or the
// segment's partial sums.
template <int HB, int W = kWarps>
__device__ __forceinline__ void finish_f16_block(const AttentionArgs& a, int n_splits, float* partial, int head0,
                                                 int64_t row, int split, const float* wacc, const float* wm,
                                                 const float* wl) {
  const int hd = a.head_dim;
  const int64_t q_stride = static_cast<int64_t>(a.n_heads) * hd;
  merge_warps<HB, W>(hd, a.f16_operands, wacc, wm, wl, [&](int h, int d, float o, float mx, float sum) {
    const int head = head0 + h;
    const int64_t item = (row * a.n_heads + head) * n_splits + split;
    if (n_splits == 1) {
      a.out[row * q_stride + static_cast<int64_t>(head) * hd + d] = o * (1.0f / sum);
    } else {
      partial[item * (hd + 2) + d] = o;
      if (d == 0) {
        partial[item * (hd + 2) + hd] = mx;  // −inf for a segment past this row's keys
        partial[item * (hd + 2) + hd + 1] = sum;
      }
    }
  });
}

// The keys [begin, end) of the block's segment (even segments when split_len is 0: the
// row's keys over n_splits, in 32 bits, keys < 2^31).
struct Segment {
  int64_t begin, end;
};
__device__ __forceinline__ Segment segment_of(const AttentionArgs& a, int n_splits, int64_t split_len, int split,
                                              int64_t row) {
  const int64_t n_keys = static_cast<int64_t>(a.pos[row]) + 1;
  const int64_t seg_len = split_len > 0 ? split_len : (static_cast<int>(n_keys) + n_splits - 1) / n_splits;
  const int64_t begin = split * seg_len;
  return {begin, min(n_keys, begin + seg_len)};
}


}  // namespace
}  // namespace greta::cuda
