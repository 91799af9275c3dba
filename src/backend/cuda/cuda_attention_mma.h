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
// The most segments (2 to 16) for which the cluster launch keeps all of a's (row, group)
// clusters resident at once; 0 where none does or the kernel does not apply. (One block a
// multiprocessor, clusters live inside one GPU processing cluster: on an H200, 8 clusters
// of 9 blocks fit at once, of 10 or more not; 9 segments against 8 at d8192: +1.4%.)
int attention_cluster_segments(const AttentionArgs& a, int hb);
// The cluster launch: each (row, group)'s n_splits even segments (2 to 16) are one
// cluster's blocks, which merge them into a.out themselves (no partial sums, no combine).
void launch_attention_cluster(const AttentionArgs& a, int hb, int n_splits);

}  // namespace greta::cuda
