#pragma once
// Split decode attention on the tensor cores (cuda_attention_mma.cu), taken by
// launch_attention where it applies.
#include <cstdint>

#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {

// Whether the split launches of `a` with hb query heads a block can take the tensor-core
// kernel: the fast precision over an f16 cache, head_dim 64 or 128, 1, 2 or 4 heads a
// block, no fault shift, sm_90 and a tensor-map encoder.
bool attention_mma_applies(const AttentionArgs& a, int hb);
// Its blocks resident on the GPU at once.
int attention_mma_resident_blocks(const AttentionArgs& a, int hb);
// Its launch over n_splits segments (split_len as in launch_attention), partial sums into
// `partial`.
void launch_attention_mma(const AttentionArgs& a, int hb, int n_splits, int64_t split_len, float* partial);

}  // namespace greta::cuda
