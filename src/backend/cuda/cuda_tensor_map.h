#pragma once
// cuTensorMapEncodeTiled through the runtime's driver entry point, so that the backend
// does not link against the driver library: tensor maps for bulk tensor copies (TMA) of
// the Hopper GEMM's tiles (cuda_matmul_wgmma.cu), the decode attention's cache rows
// (cuda_attention_mma.cu) and the streamed GEMV's weight rows (cuda_gemv_f16.cu). Null
// where the driver does not offer it.
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <cstdint>

namespace greta::cuda {

inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      p = nullptr;
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}

// A matrix of n_rows rows of row_bytes bytes at w, as 8-byte elements, copied in boxes of
// box_bytes bytes (the inner box: at most 256 elements) × box_rows rows that land in
// shared memory box_bytes apart; columns and rows past the matrix arrive as zeros. False
// where the driver has no encoder, the matrix does not fit a map's rules (16-byte aligned
// start and rows, at most 2^31 rows), or GRETA_CUDA_RING_MAPS=0 turns the maps off (the
// streamed GEMV then copies row by row; for measuring what they bring).
bool weight_rows_map(const void* w, int64_t row_bytes, int64_t n_rows, int box_bytes, int box_rows, CUtensorMap& map);

// One matrix of a launch, for weight_rows_map.
struct WeightRows {
  const void* w;
  int64_t row_bytes, n_rows;
  int box_bytes, box_rows;
};

// The weight_rows_map maps of n matrices, side by side in device memory (128-byte
// aligned, as copies need), made once per list and kept: a decode step launches over the
// same weights every time, and each step's record pass asks again. Null where a matrix
// takes no map, or where the list is first asked for while this thread captures a graph
// (the record pass before a capture asks for the same list, so it never is).
const CUtensorMap* device_weight_maps(const WeightRows* rows, int n);

}  // namespace greta::cuda
