// Attention over the KV cache on the CPU.
//
// Both routes compute each (query row, head) with the same per-row kernel, so prefill and
// decode agree bit for bit; the prefill kernel spreads (row, head) pairs over threads, the
// decode kernel spreads the heads of its single row.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "quant/quant.h"

namespace greta::cpu {
namespace {

// One query head against keys/values 0..n_keys-1 of one KV head; kv_shift misaddresses
// the window (fault injection): key j is read from row max(j - kv_shift, 0).
void attend_row(const float* q, const KvCache& cache, int layer, int kv_head, int head_dim, int64_t n_keys,
                int kv_shift, std::vector<float>& scores, float* out) {
  const Act K{cache.k_f32(layer), cache.n_ctx, cache.kv_dim};
  const Act V{cache.v_f32(layer), cache.n_ctx, cache.kv_dim};
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  scores.resize(static_cast<size_t>(n_keys));
  auto row_of = [&](int64_t j) { return std::max<int64_t>(j - kv_shift, 0); };
  float mx = -INFINITY;
  for (int64_t j = 0; j < n_keys; ++j) {
    scores[j] = quant::dot_f32(q, K.row(row_of(j)) + kv_head * head_dim, head_dim) * scale;
    mx = std::max(mx, scores[j]);
  }
  float sum = 0;
  for (int64_t j = 0; j < n_keys; ++j) {
    scores[j] = std::exp(scores[j] - mx);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t j = 0; j < n_keys; ++j) {
    const float p = scores[j] * inv;
    const float* v = V.row(row_of(j)) + kv_head * head_dim;
    for (int d = 0; d < head_dim; ++d) out[d] += p * v[d];
  }
}

}  // namespace

void CpuBackend::attention(Route route, Act q, const KvCache& cache, int layer, const int32_t* pos,
                           const AttentionShape& s, Act out, int kv_shift) {
  const int group = s.n_heads / s.n_kv_heads;
  auto one = [&](int64_t row, int head, std::vector<float>& scores) {
    attend_row(q.row(row) + head * s.head_dim, cache, layer, head / group, s.head_dim, pos[row] + 1, kv_shift, scores,
               out.row(row) + head * s.head_dim);
  };
  if (route == Route::Gemv) {
    for (int64_t row = 0; row < q.rows; ++row)
      pool_.parallel_for(s.n_heads, 1, [&](int64_t h0, int64_t h1, int) {
        thread_local std::vector<float> scores;
        for (int64_t h = h0; h < h1; ++h) one(row, static_cast<int>(h), scores);
      }, int64_t{2} * s.n_heads * s.head_dim * (pos[row] + 1));
    return;
  }
  // Causal rows grow in length; threads claim small chunks of (row, head) pairs, so the
  // long rows at the end do not all land on one thread.
  const int64_t n_items = q.rows * s.n_heads;
  int64_t work = 0;
  for (int64_t row = 0; row < q.rows; ++row) work += int64_t{2} * s.n_heads * s.head_dim * (pos[row] + 1);
  pool_.parallel_for(n_items, 1, [&](int64_t i0, int64_t i1, int) {
    thread_local std::vector<float> scores;
    for (int64_t i = i0; i < i1; ++i) one(i / s.n_heads, static_cast<int>(i % s.n_heads), scores);
  }, work);
}

}  // namespace greta::cpu
