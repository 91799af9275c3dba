#include "model/backend.h"

namespace greta {

KvCache Backend::alloc_cache(int64_t n_layers, int64_t n_ctx, int64_t kv_dim) {
  KvCache c;
  c.n_ctx = n_ctx;
  c.kv_dim = kv_dim;
  c.type = TensorType::F32;
  for (int64_t l = 0; l < n_layers; ++l) {
    c.k.push_back(alloc(n_ctx, kv_dim).data);
    c.v.push_back(alloc(n_ctx, kv_dim).data);
  }
  return c;
}

void Backend::free_cache(KvCache& cache) {
  for (void* p : cache.k) release(Act{static_cast<float*>(p), cache.n_ctx, cache.kv_dim});
  for (void* p : cache.v) release(Act{static_cast<float*>(p), cache.n_ctx, cache.kv_dim});
  cache.k.clear();
  cache.v.clear();
}

void Backend::read_cache(const KvCache& cache, int layer, int64_t rows, float* k, float* v) {
  to_host(Act{cache.k_f32(layer), cache.n_ctx, cache.kv_dim}, 0, rows, k);
  to_host(Act{cache.v_f32(layer), cache.n_ctx, cache.kv_dim}, 0, rows, v);
}

}  // namespace greta
