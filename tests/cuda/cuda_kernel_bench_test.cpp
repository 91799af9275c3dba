// Kernel timings on the CUDA backend, for the notes in docs/benchmarks.md. Disabled by
// default (speed lives in benchmarks, not tests): run with
//   cuda_tests --gtest_also_run_disabled_tests --gtest_filter='*KernelBench*'
// Prints achieved bandwidth (GEMV: weight bytes / time) and rate (GEMM: 2·rows·k·tokens / time).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "cuda_fixture.h"
#include "quant/quant.h"

namespace greta::test {
namespace {

std::vector<uint8_t> random_weight(TensorType type, int64_t rows, int64_t k) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> row(k);
  const int64_t rb = row_bytes(type, k);
  std::vector<uint8_t> bytes(rows * rb);
  for (int64_t r = 0; r < rows; ++r) {
    if (r < 64) for (auto& v : row) v = dist(rng);  // 64 distinct rows are enough for timing
    quant::quantize_row(type, row.data(), bytes.data() + r * rb, k);
  }
  return bytes;
}

// Median over `reps` of the time of `inner` back-to-back runs of fn, divided by inner
// (launch gaps hidden behind queued work, as in a forward pass).
template <class F>
double median_seconds(Backend& b, int reps, int inner, F&& fn) {
  std::vector<double> t;
  fn();
  b.synchronize();
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int j = 0; j < inner; ++j) fn();
    b.synchronize();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

TEST(DISABLED_KernelBench, MatmulRoutes) {
  GRETA_REQUIRE_CUDA();
  auto b = make_backend("cuda", 0);
  std::printf("%s\n", b->name().c_str());
  struct Shape { int64_t rows, k; };
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::F16, TensorType::Q5_K,
                          TensorType::Q4_0, TensorType::BF16, TensorType::F32})
    for (Shape s : {Shape{4096, 4096}, Shape{14336, 4096}, Shape{4096, 14336}}) {
      const auto bytes = random_weight(type, s.rows, s.k);
      const Weight w = b->upload(type, bytes.data(), s.rows, s.k);
      Act x = b->alloc(512, s.k), y = b->alloc(512, s.rows);
      std::vector<float> xh(512 * s.k, 0.01f);
      b->from_host(xh.data(), x, 0, 512);
      // Single launches: the 4096x4096 cases fit the L2, the larger ones do not.
      const double tv = median_seconds(*b, 10, 50, [&] { b->matmul(w, x.first_rows(1), y.first_rows(1), Route::Gemv); });
      const double tg = median_seconds(*b, 3, 2, [&] { b->matmul(w, x, y, Route::Gemm); });
      std::printf("%-5s %6lld x %6lld  gemv %8.1f us %7.0f GB/s   gemm(512) %8.2f ms %6.1f TFLOP/s\n",
                  std::string(type_traits(type).name).c_str(), static_cast<long long>(s.rows),
                  static_cast<long long>(s.k), tv * 1e6, bytes.size() / tv / 1e9, tg * 1e3,
                  2.0 * s.rows * s.k * 512 / tg / 1e12);
      b->release(x);
      b->release(y);
    }
}


// The small per-layer ops of one decode step at the 8B shape (dim 4096, 32 heads of 128,
// 8 KV heads, ffn 14336): time per op with launches queued back to back.
TEST(DISABLED_KernelBench, DecodeStepSmallOps) {
  GRETA_REQUIRE_CUDA();
  auto b = make_backend("cuda", 0);
  const int64_t dim = 4096, ffn = 14336, kv_dim = 1024, n_ctx = 2048;
  Act x = b->alloc(1, dim), y = b->alloc(1, dim), g = b->alloc(1, ffn), u = b->alloc(1, ffn), a = b->alloc(1, ffn);
  Act k = b->alloc(1, kv_dim), v = b->alloc(1, kv_dim), q = b->alloc(1, dim), att = b->alloc(1, dim);
  std::vector<float> ones(ffn, 0.5f);
  const Weight norm = b->upload(TensorType::F32, ones.data(), 1, dim);
  KvCache cache = b->alloc_cache(1, n_ctx, kv_dim);
  std::vector<float> cs(64 * 2, 0.5f);
  auto report = [&](const char* what, double s) { std::printf("%-28s %7.2f us\n", what, s * 1e6); };
  report("rmsnorm 1x4096", median_seconds(*b, 10, 100, [&] { b->rmsnorm(x, norm, 1e-5f, y); }));
  report("rope 1x4096 (hd 128)", median_seconds(*b, 10, 100, [&] { b->rope(q, 128, 128, cs.data()); }));
  for (int32_t pos : {127, 1023, 2047}) {
    b->kv_store(cache, 0, k, v, &pos);
    const std::string name = "attention decode pos " + std::to_string(pos);
    report(name.c_str(), median_seconds(*b, 10, 100, [&] {
             b->attention(Route::Gemv, q, cache, 0, &pos, AttentionShape{32, 8, 128}, att, 0);
           }));
  }
  int32_t pos = 5;
  report("kv_store 1x1024", median_seconds(*b, 10, 100, [&] { b->kv_store(cache, 0, k, v, &pos); }));
  report("swiglu 1x14336", median_seconds(*b, 10, 100, [&] { b->swiglu(g, u, a); }));
  report("add 1x4096", median_seconds(*b, 10, 100, [&] { b->add(x, y, x); }));
  std::vector<float> host(dim);
  report("to_host 1x4096", median_seconds(*b, 10, 100, [&] { b->to_host(x, 0, 1, host.data()); }));
  for (Act* p : {&x, &y, &g, &u, &a, &k, &v, &q, &att}) b->release(*p);
  b->free_cache(cache);
}

}  // namespace
}  // namespace greta::test
