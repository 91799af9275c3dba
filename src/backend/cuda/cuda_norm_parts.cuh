#pragma once
// The device pieces of the add + rmsnorm split over two streamed products (NormLink,
// cuda_ops.h): the producing side's tile end (residual added, the tile's sum of squares
// stored) and the scale the consuming side forms from those tile sums. The sums of squares
// are doubles, as in the rmsnorm kernel; only their order differs from it.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_row_ops.cuh"

namespace greta::cuda {

// The rmsnorm scale of a row whose 16-row tiles summed their squares into sums[0..n): lane
// l adds sums l, l + 32, ... in that order, then the warp meets in a butterfly, so every
// lane of every warp that calls it gets the same value. Whole warps only.
__device__ __forceinline__ float scale_from_tile_sums(const double* sums, int n, int64_t cols, float eps) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  double s = 0.0;
#pragma unroll 8
  for (int i = lane; i < n; i += 32) s += load_prior(sums + i);
#pragma unroll
  for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, off);
  return rms_scale(s, cols, eps);
}

// The producing side's tile end for lanes 0-15 (lane = the row's slot in its tile): `res`
// is the residual of the lane's row, read when the tile started; row r of sum_out gets
// res + v (the add + rmsnorm kernel's sum), and lane 0 stores the tile's sum of squares.
struct ResidualRows {
  float res;
  float* sum_out;
  double* sums;
  // Row r's sum stored and, for lanes 0-15 together, the tile's sum of squares into
  // sums[tile]; rows past the matrix (in_range false) add nothing.
  __device__ __forceinline__ void store(int tile, int64_t r, float v, bool in_range) const {
    const float a = __fadd_rn(res, v);
    if (in_range) sum_out[r] = a;
    double sq = in_range ? static_cast<double>(a) * a : 0.0;
#pragma unroll
    for (int off = 8; off > 0; off /= 2) sq += __shfl_xor_sync(0x0000FFFFu, sq, off);
    if (threadIdx.x % 32 == 0) sums[tile] = sq;
  }
};

}  // namespace greta::cuda
