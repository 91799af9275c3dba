#pragma once
// The activation-stationary decode GEMV (cuda_matmul_gemv_stationary.cu), offered to
// launch_gemv for one token of Q4_K or Q6_K weights.
#include <cstdint>

#include "greta/tensor_type.h"

namespace greta::cuda {

// y[r] = Σ_k W[r][k] x[k] for r < n_rows (one token). Returns false, queuing nothing, for
// formats or widths it does not take, and for shape classes not switched on
// (GRETA_GEMV_ST_MASK; none by default) unless `force` (tests): the caller then uses the
// lane-strided kernel.
bool launch_gemv_stationary(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k,
                            const float* x, float* y, bool force = false);

}  // namespace greta::cuda
