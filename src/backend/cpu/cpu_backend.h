#pragma once
// The CPU backend: f32 activations in host memory, weights read in place from the GGUF
// mapping, SIMD kernels chosen at run time (quant/quant.h), threads from a pool.
#include <memory>

#include "backend/cpu/thread_pool.h"
#include "model/backend.h"

namespace greta::cpu {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads);
  std::string name() const override;
  std::string numeric_contract() const override;
  int threads() const { return pool_.size(); }

  Weight upload(TensorType type, const void* host, int64_t rows, int64_t cols) override;
  Act alloc(int64_t rows, int64_t cols) override;
  void release(Act a) override;
  void to_host(Act src, int64_t first_row, int64_t n_rows, float* dst) override;
  void from_host(const float* src, Act dst, int64_t first_row, int64_t n_rows) override;

  void embed(const Weight& table, const int32_t* tokens, int64_t n, Act out) override;
  void rmsnorm(Act x, const Weight& w, float eps, Act out) override;
  void matmul(const Weight& w, Act x, Act out, Route route) override;
  void rope(Act x, int head_dim, int rope_dim, const float* cos_sin) override;
  void kv_store(KvCache& cache, int layer, Act k, Act v, const int32_t* pos) override;
  void attention(Route route, Act q, const KvCache& cache, int layer, const int32_t* pos,
                 const AttentionShape& shape, Act out, int kv_shift) override;
  void swiglu(Act gate, Act up, Act out) override;
  void add(Act a, Act b, Act out) override;
  void scale(Act x, float s) override;
  void copy(Act src, Act dst) override;

 private:
  void matmul_gemv(const Weight& w, Act x, Act out);
  void matmul_gemm(const Weight& w, Act x, Act out);
  ThreadPool pool_;
};

}  // namespace greta::cpu
