#pragma once
// Per-element arithmetic of the row ops that two kernels compute: the stand-alone rmsnorm
// and swiglu kernels (cuda_elementwise.cu) and the decode chain, which computes them while
// it stages a product's input (cuda_decode_chain.cu). Sharing the expressions (and the
// rmsnorm's summation layout) keeps both routes at the same bits.
#include <cuda_runtime.h>

namespace greta::cuda {

// The rmsnorm kernel: one block of kNormThreads threads a row; thread t sums the squares
// of elements t, t + kNormThreads, ... in that order (in double), each warp's sums meet
// in a butterfly, and one thread adds the warps' sums in warp order.
constexpr int kNormThreads = 1024;
constexpr int kNormHeld = 4;  // elements per thread held in registers (rows up to 4096)

// The scale of a row from its sum of squares, as the CPU backend computes it.
__device__ __forceinline__ float rms_scale(double sum_squares, long long cols, float eps) {
  const float mean = static_cast<float>(sum_squares / static_cast<double>(cols));
  return 1.0f / sqrtf(mean + eps);
}
// One normalized element: (x * scale) * gain.
__device__ __forceinline__ float rms_apply(float x, float scale, float gain) { return __fmul_rn(__fmul_rn(x, scale), gain); }

// silu(g), and silu(g) * u: the decode chain keeps silu(g) when it stores g and multiplies
// it by u later, the same two roundings.
__device__ __forceinline__ float silu_value(float g) { return g / (1.0f + expf(-g)); }
__device__ __forceinline__ float swiglu_value(float g, float u) { return __fmul_rn(silu_value(g), u); }

}  // namespace greta::cuda
