// Kernel timings on the CUDA backend, for the notes in docs/benchmarks.md. Disabled by
// default (speed lives in benchmarks, not tests): run with
//   cuda_tests --gtest_also_run_disabled_tests --gtest_filter='*KernelBench*'
// Prints achieved bandwidth (GEMV: weight bytes / time) and rate (GEMM: 2·rows·k·tokens / time).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include "cuda_fixture.h"
#include "kernel_timing.h"
#include "quant/quant.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_ops.h"
#endif

namespace greta::test {
namespace {

std::vector<uint8_t> random_weight(TensorType type, int64_t rows, int64_t k) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> row(k);
  const int64_t rb = row_bytes(type, k);
  std::vector<uint8_t> bytes(rows * rb);
  // 64 distinct rows are enough for timing; the rest are copies (quantizing 128256 rows
  // on the host would take longer than the timings).
  for (int64_t r = 0; r < std::min<int64_t>(rows, 64); ++r) {
    for (auto& v : row) v = dist(rng);
    quant::quantize_row(type, row.data(), bytes.data() + r * rb, k);
  }
  for (int64_t r = 64; r < rows; ++r) std::memcpy(bytes.data() + r * rb, bytes.data() + (r % 64) * rb, rb);
  return bytes;
}

std::unique_ptr<Backend> make_exact_cuda() {
#ifdef GRETA_HAVE_CUDA
  return std::make_unique<cuda::CudaBackend>(0, cuda::CudaOptions{false, TensorType::F32});
#else
  return nullptr;
#endif
}

// Both prefill routes next to the decode route: "gemm" is the exact f32 GEMM (the exact
// backend), "tc" the default backend's whole tensor-core matmul call (activations and
// weights to f16, then the GEMM).
TEST(DISABLED_KernelBench, MatmulRoutes) {
  GRETA_REQUIRE_CUDA();
  auto b = make_backend("cuda", 0);
  auto exact = make_exact_cuda();
  std::printf("%s\n", b->name().c_str());
  struct Shape { int64_t rows, k; };
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::F16, TensorType::Q5_K,
                          TensorType::Q4_0, TensorType::BF16, TensorType::F32})
    for (Shape s : {Shape{4096, 4096}, Shape{14336, 4096}, Shape{4096, 14336}}) {
      const auto bytes = random_weight(type, s.rows, s.k);
      const Weight w = b->upload(type, bytes.data(), s.rows, s.k);
      const Weight we = exact->upload(type, bytes.data(), s.rows, s.k);
      Act x = b->alloc(512, s.k), y = b->alloc(512, s.rows);
      Act xe = exact->alloc(512, s.k), ye = exact->alloc(512, s.rows);
      std::vector<float> xh(512 * s.k, 0.01f);
      b->from_host(xh.data(), x, 0, 512);
      exact->from_host(xh.data(), xe, 0, 512);
      // Single launches: the 4096x4096 cases fit the L2, the larger ones do not.
      const double tv = median_seconds(*b, 10, 50, [&] { b->matmul(w, x.first_rows(1), y.first_rows(1), Route::Gemv); });
      const double tg = median_seconds(*exact, 3, 2, [&] { exact->matmul(we, xe, ye, Route::Gemm); });
      const double tc = median_seconds(*b, 5, 5, [&] { b->matmul(w, x, y, Route::Gemm); });
      const double flop = 2.0 * s.rows * s.k * 512;
      std::printf("%-5s %6lld x %6lld  gemv %8.1f us %7.0f GB/s   gemm(512) %8.2f ms %6.1f TFLOP/s   tc(512) %7.3f ms "
                  "%6.1f TFLOP/s\n",
                  std::string(type_traits(type).name).c_str(), static_cast<long long>(s.rows),
                  static_cast<long long>(s.k), tv * 1e6, bytes.size() / tv / 1e9, tg * 1e3, flop / tg / 1e12, tc * 1e3,
                  flop / tc / 1e12);
      b->release(x);
      b->release(y);
      exact->release(xe);
      exact->release(ye);
    }
}


// The tensor-core route's steps at 512 tokens on the Llama-3-8B shapes (Q4_K; the output
// matrix Q6_K as in a Q4_K_M model): the GEMM alone on f16 operands already in place, the
// weight dequantization alone (bytes read + f16 bytes written), and the whole matmul call.
TEST(DISABLED_KernelBench, MatmulTensorCores) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  auto b = make_backend("cuda", 0);
  std::printf("%s\n", b->name().c_str());
  const int64_t tokens = 512;
  struct Shape { int64_t rows, k; TensorType type; };
  for (Shape s : {Shape{4096, 4096, TensorType::Q4_K}, Shape{14336, 4096, TensorType::Q4_K},
                  Shape{4096, 14336, TensorType::Q4_K}, Shape{1024, 4096, TensorType::Q4_K},
                  Shape{1024, 4096, TensorType::Q6_K}, Shape{4096, 14336, TensorType::Q6_K},
                  Shape{128256, 4096, TensorType::Q6_K}}) {
    const auto bytes = random_weight(s.type, s.rows, s.k);
    const Weight w = b->upload(s.type, bytes.data(), s.rows, s.k);
    const int64_t k_pad = cuda::mma_k_padded(s.k);
    // f16 operands in float activations of half the width (the launchers take raw device memory).
    Act w16 = b->alloc(s.rows, k_pad / 2), x16 = b->alloc(tokens, k_pad / 2);
    Act x = b->alloc(tokens, s.k), y = b->alloc(tokens, s.rows);
    std::vector<float> xh(tokens * s.k, 0.01f);
    b->from_host(xh.data(), x, 0, tokens);
    auto* w16p = reinterpret_cast<uint16_t*>(w16.data);
    auto* x16p = reinterpret_cast<uint16_t*>(x16.data);
    cuda::launch_to_f16(x.data, s.k, tokens, s.k, x16p);
    const double td = median_seconds(*b, 5, 5, [&] {
      cuda::launch_dequant_f16(s.type, w.data, w.row_bytes(), s.rows, s.k, w16p);
    });
    const double tg = median_seconds(*b, 5, 5, [&] {
      cuda::launch_gemm_f16(w16p, s.rows, x16p, tokens, k_pad, y.data, s.rows);
    });
    const double tc = median_seconds(*b, 5, 5, [&] { b->matmul(w, x, y, Route::Gemm); });
    const double flop = 2.0 * s.rows * s.k * tokens;
    const double moved = static_cast<double>(bytes.size()) + 2.0 * s.rows * k_pad;
    std::printf("%-5s %6lld x %6lld  gemm_f16 %7.3f ms %6.1f TFLOP/s   dequant %7.3f ms %6.0f GB/s   "
                "matmul %7.3f ms %6.1f TFLOP/s\n",
                std::string(type_traits(s.type).name).c_str(), static_cast<long long>(s.rows),
                static_cast<long long>(s.k), tg * 1e3, flop / tg / 1e12, td * 1e3, moved / td / 1e9, tc * 1e3,
                flop / tc / 1e12);
    for (Act* a : {&w16, &x16, &x, &y}) b->release(*a);
  }
#endif
}

// The decode GEMV of both precisions on the Llama-3-8B shapes of a Q4_K_M model, several
// copies of the matrix taken in turn so that none is still in the L2 when it comes back:
// weight bytes / time, as inside a decode step where nothing is reused.
TEST(DISABLED_KernelBench, DecodeGemvRotating) {
  GRETA_REQUIRE_CUDA();
  auto fast = make_backend("cuda", 0);
  auto exact = make_exact_cuda();
  std::printf("%s\n", fast->name().c_str());
  struct Shape { int64_t rows, k; TensorType type; };
  for (Shape s : {Shape{1024, 4096, TensorType::Q4_K}, Shape{4096, 4096, TensorType::Q4_K},
                  Shape{14336, 4096, TensorType::Q4_K}, Shape{4096, 14336, TensorType::Q4_K},
                  Shape{1024, 4096, TensorType::Q6_K}, Shape{4096, 14336, TensorType::Q6_K},
                  Shape{128256, 4096, TensorType::Q6_K}, Shape{4096, 4096, TensorType::Q8_0},
                  Shape{14336, 4096, TensorType::F16}}) {
    const auto bytes = random_weight(s.type, s.rows, s.k);
    const int copies = static_cast<int>(std::max<int64_t>(2, 400'000'000 / static_cast<int64_t>(bytes.size())));
    std::vector<Weight> wf, we;
    for (int c = 0; c < copies; ++c) {
      wf.push_back(fast->upload(s.type, bytes.data(), s.rows, s.k));
      we.push_back(exact->upload(s.type, bytes.data(), s.rows, s.k));
    }
    Act xf = fast->alloc(1, s.k), yf = fast->alloc(1, s.rows), xe = exact->alloc(1, s.k), ye = exact->alloc(1, s.rows);
    std::vector<float> xh(s.k, 0.01f);
    fast->from_host(xh.data(), xf, 0, 1);
    exact->from_host(xh.data(), xe, 0, 1);
    int i = 0, j = 0;
    const double tf = median_seconds(*fast, 5, 4 * copies, [&] { fast->matmul(wf[i++ % copies], xf, yf, Route::Gemv); });
    const double te = median_seconds(*exact, 5, 4 * copies, [&] { exact->matmul(we[j++ % copies], xe, ye, Route::Gemv); });
    std::printf("%-5s %6lld x %6lld  f16 %8.2f us %6.0f GB/s   exact %8.2f us %6.0f GB/s  (%d copies)\n",
                std::string(type_traits(s.type).name).c_str(), static_cast<long long>(s.rows),
                static_cast<long long>(s.k), tf * 1e6, bytes.size() / tf / 1e9, te * 1e6, bytes.size() / te / 1e9,
                copies);
    for (Act* a : {&xf, &yf}) fast->release(*a);
    for (Act* a : {&xe, &ye}) exact->release(*a);
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
