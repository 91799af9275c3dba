// The Hopper wgmma GEMM (cuda_matmul_wgmma.cu): every tile variant on shapes with partial
// row and token tiles, odd output strides and short K, against an exact host product. The
// operands are multiples of 1/64 in [-2, 2], so with K ≤ 512 every partial sum is exact in
// f32 and any summation order gives the same bits. Plus a disabled benchmark per variant.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>

#include "cuda_fixture.h"
#include "kernel_timing.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_ops.h"
#endif

namespace greta::test {
namespace {

#ifdef GRETA_HAVE_CUDA
struct Operands {
  std::vector<float> w, x;  // host copies, rows × k_pad and tokens × k_pad
  Act w16, x16;             // f16 rows in float activations of half the width
};

Operands make_operands(Backend& b, int64_t rows, int64_t tokens, int64_t k_pad, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-128, 128);
  Operands o;
  auto fill = [&](std::vector<float>& v, Act& out, int64_t n) {
    v.resize(n * k_pad);
    for (auto& e : v) e = dist(rng) / 64.0f;
    Act f = b.alloc(n, k_pad);
    b.from_host(v.data(), f, 0, n);
    out = b.alloc(n, k_pad / 2);
    cuda::launch_to_f16(f.data, k_pad, n, k_pad, reinterpret_cast<uint16_t*>(out.data));
    b.synchronize();
    b.release(f);
  };
  fill(o.w, o.w16, rows);
  fill(o.x, o.x16, tokens);
  return o;
}

// variant < 0: launch_gemm_f16 (the dispatching entry point).
void expect_exact(int variant, int64_t rows, int64_t tokens, int64_t k_pad) {
  auto b = make_backend("cuda", 0);
  Operands o = make_operands(*b, rows, tokens, k_pad, static_cast<uint32_t>(rows * 7 + tokens * 3 + k_pad));
  const int64_t ldy = rows + 3;
  Act y = b->alloc(tokens, ldy);
  std::vector<float> out(tokens * ldy, std::nanf(""));
  b->from_host(out.data(), y, 0, tokens);
  const auto* w16 = reinterpret_cast<const uint16_t*>(o.w16.data);
  const auto* x16 = reinterpret_cast<const uint16_t*>(o.x16.data);
  if (variant < 0) {
    cuda::launch_gemm_f16(w16, rows, x16, tokens, k_pad, y.data, ldy);
  } else if (!cuda::launch_gemm_f16_wgmma(w16, rows, x16, tokens, k_pad, y.data, ldy, variant)) {
    b->release(o.w16), b->release(o.x16), b->release(y);
    GTEST_SKIP() << "no sm_90 device for the wgmma kernel";
  }
  b->to_host(y, 0, tokens, out.data());
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double want = 0;
      for (int64_t k = 0; k < k_pad; ++k) want += double(o.w[r * k_pad + k]) * o.x[t * k_pad + k];
      ASSERT_EQ(out[t * ldy + r], static_cast<float>(want))
          << "variant " << variant << " " << rows << "x" << k_pad << " tokens " << tokens << " at token " << t
          << " row " << r;
    }
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = rows; r < ldy; ++r) ASSERT_TRUE(std::isnan(out[t * ldy + r])) << "stored past the rows";
  for (Act* a : {&o.w16, &o.x16, &y}) b->release(*a);
}
#endif

TEST(CudaGemmWgmma, EveryVariantExactOnOddShapes) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  struct Shape { int64_t rows, tokens, k_pad; };
  for (int variant = 1; variant <= 7; ++variant)
    for (Shape s : {Shape{8, 9, 64}, Shape{200, 300, 512}, Shape{768, 130, 192}, Shape{130, 257, 448},
                    Shape{33, 17, 128}, Shape{513, 64, 320}})
      expect_exact(variant, s.rows, s.tokens, s.k_pad);
  // More tiles than an H100 has multiprocessors: the persistent variants walk several each.
  for (int variant : {6, 7}) expect_exact(variant, 4100, 1100, 128);
#endif
}

TEST(CudaGemmWgmma, DispatchExact) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  // Large enough for the wgmma route on an H100, and a small one for the mma.sync route.
  expect_exact(-1, 2048, 520, 512);
  expect_exact(-1, 100, 40, 256);
#endif
}

// GEMM alone, mma.sync against each wgmma variant, at 512 and 2048 tokens.
TEST(DISABLED_KernelBench, MatmulWgmma) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  auto b = make_backend("cuda", 0);
  struct Shape { int64_t rows, k; };
  for (int64_t tokens : {512, 2048})
    for (Shape s : {Shape{4096, 4096}, Shape{14336, 4096}, Shape{4096, 14336}, Shape{1024, 4096},
                    Shape{128256, 4096}}) {
      Act w16 = b->alloc(s.rows, s.k / 2), x16 = b->alloc(tokens, s.k / 2), y = b->alloc(tokens, s.rows);
      const auto* wp = reinterpret_cast<const uint16_t*>(w16.data);
      const auto* xp = reinterpret_cast<const uint16_t*>(x16.data);
      auto seconds = [&](auto&& fn) { return median_seconds(*b, 5, 10, fn); };
      const double flop = 2.0 * s.rows * s.k * tokens;
      std::printf("%6lld x %6lld  tokens %5lld  mma.sync %6.1f", static_cast<long long>(s.rows),
                  static_cast<long long>(s.k), static_cast<long long>(tokens),
                  flop / seconds([&] { cuda::launch_gemm_f16_mma(wp, s.rows, xp, tokens, s.k, y.data, s.rows); }) /
                      1e12);
      for (int v = 1; v <= 7; ++v)
        std::printf("  v%d %6.1f", v,
                    flop / seconds([&] { cuda::launch_gemm_f16_wgmma(wp, s.rows, xp, tokens, s.k, y.data, s.rows, v); }) /
                        1e12);
      std::printf("  default %6.1f TFLOP/s\n",
                  flop / seconds([&] { cuda::launch_gemm_f16(wp, s.rows, xp, tokens, s.k, y.data, s.rows); }) / 1e12);
      for (Act* a : {&w16, &x16, &y}) b->release(*a);
    }
#endif
}

}  // namespace
}  // namespace greta::test
