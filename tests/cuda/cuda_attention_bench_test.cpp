// Attention timings on the CUDA backend at the Llama-3-8B shape (32 heads of 128, 8 KV
// heads), for the notes in src/backend/cuda/NOTES.md. Disabled by default: run with
//   cuda_tests --gtest_also_run_disabled_tests --gtest_filter='*KernelBench*Attention*'
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "cuda_fixture.h"
#include "kernel_timing.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace greta::test {
namespace {

#ifdef GRETA_HAVE_CUDA
const AttentionShape k8B{32, 8, 128};
constexpr int64_t kKvDim = 1024, kQDim = 4096;

void fill_random(Backend& b, Act a, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> h(a.rows * a.cols);
  for (auto& x : h) x = dist(rng);
  b.from_host(h.data(), a, 0, a.rows);
}

// A backend with the cache type and a cache of n_ctx random rows of one layer.
struct CacheSetup {
  cuda::CudaBackend b;
  KvCache cache;
  CacheSetup(cuda::CudaOptions opt, int64_t n_ctx) : b(0, opt), cache(b.alloc_cache(1, n_ctx, kKvDim)) {
    Act k = b.alloc(n_ctx, kKvDim), v = b.alloc(n_ctx, kKvDim);
    fill_random(b, k, 1);
    fill_random(b, v, 2);
    std::vector<int32_t> pos(n_ctx);
    for (int64_t i = 0; i < n_ctx; ++i) pos[i] = static_cast<int32_t>(i);
    b.kv_store(cache, 0, k, v, pos.data());
    b.release(k);
    b.release(v);
  }
  ~CacheSetup() { b.free_cache(cache); }
};
#endif

// One decode row against caches of each depth, f32 and f16 cache. K+V bytes read per
// layer: 2 · (pos+1) · 1024 · element size (the f16 kernel reads them once per GQA group).
TEST(DISABLED_KernelBench, AttentionDecode) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  const char* names[] = {"", ", cluster launch", ", tensor cores with a combine pass", ", register kernel"};
  for (int variant = 0; variant < 4; ++variant) {
    // f32 cache; f16 cache with the tensor-core kernel's cluster launch, its plain launch
    // and the register kernel for split launches.
    const TensorType kv = variant == 0 ? TensorType::F32 : TensorType::F16;
    cuda::CudaOptions opt{kv == TensorType::F16, kv};
    opt.attention_mma = variant != 3;
    opt.attention_cluster = variant == 1;
    CacheSetup s(opt, 8192);
    std::printf("%s%s\n", s.b.name().c_str(), names[variant]);
    Act q = s.b.alloc(1, kQDim), o = s.b.alloc(1, kQDim);
    fill_random(s.b, q, 3);
    for (int32_t pos : {127, 1023, 2047, 8191}) {
      const double t = median_seconds(s.b, 10, 100, [&] { s.b.attention(Route::Gemv, q, s.cache, 0, &pos, k8B, o, 0); });
      const double bytes = 2.0 * (pos + 1) * kKvDim * (kv == TensorType::F16 ? 2 : 4);
      std::printf("attention decode %s pos %5d %8.2f us %7.0f GB/s  (x32 layers %7.3f ms)\n",
                  std::string(type_traits(kv).name).c_str(), pos, t * 1e6, bytes / t / 1e9, 32 * t * 1e3);
    }
    s.b.release(q);
    s.b.release(o);
  }
#endif
}

// One causal prefill of n rows at positions 0..n-1 over an f16 cache: flash attention on
// tensor cores, and the f32 kernel over the same cache at 512 rows for comparison. Rate:
// 4 · head_dim · n_heads flops per visible (query, key) pair (q·k and p·v).
TEST(DISABLED_KernelBench, FlashAttentionPrefill) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  const int64_t n_ctx = 8192;
  std::vector<int32_t> pos(n_ctx);
  for (int64_t i = 0; i < n_ctx; ++i) pos[i] = static_cast<int32_t>(i);
  for (bool tc : {true, false}) {
    CacheSetup s(cuda::CudaOptions{tc, TensorType::F16}, n_ctx);
    Act q = s.b.alloc(n_ctx, kQDim), o = s.b.alloc(n_ctx, kQDim);
    fill_random(s.b, q, 4);
    for (int64_t n : {512, 4096, 8192}) {
      if (!tc && n > 512) continue;
      const double t = median_seconds(s.b, 5, 3, [&] {
        s.b.attention(Route::Gemm, q.first_rows(n), s.cache, 0, pos.data(), k8B, o.first_rows(n), 0);
      });
      const double flops = 4.0 * k8B.head_dim * k8B.n_heads * (double(n) * double(n + 1) / 2);
      std::printf("prefill attention %-10s %5lld rows %9.3f ms %7.1f TFLOP/s  (x32 layers %8.2f ms)\n",
                  tc ? "flash" : "f32 kernel", static_cast<long long>(n), t * 1e3, flops / t / 1e12, 32 * t * 1e3);
    }
    s.b.release(q);
    s.b.release(o);
  }
#endif
}

}  // namespace
}  // namespace greta::test
