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

}  // namespace
}  // namespace greta::test
