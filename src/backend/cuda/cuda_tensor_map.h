#pragma once
// cuTensorMapEncodeTiled through the runtime's driver entry point, so that the backend
// does not link against the driver library: tensor maps for bulk tensor copies (TMA) of
// the Hopper GEMM's tiles (cuda_matmul_wgmma.cu) and the decode attention's cache rows
// (cuda_attention.cu). Null where the driver does not offer it.
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

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

}  // namespace greta::cuda
