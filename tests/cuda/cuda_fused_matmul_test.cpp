// The fused tensor-core route (dequantization inside the GEMM, Q4_K and Q6_K) against the
// two-step route (f16 weight rows, then the mma.sync GEMM): the same output bits, for every tile
// variant, on shapes with partial row and token tiles and K of one, two and 17 blocks.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "cuda_fixture.h"
#include "quant/quant.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_ops.h"
#endif

namespace greta::test {
namespace {

#ifdef GRETA_HAVE_CUDA
std::vector<uint8_t> quantized(TensorType type, int64_t rows, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> row(k);
  const int64_t rb = row_bytes(type, k);
  std::vector<uint8_t> bytes(rows * rb);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = dist(rng);
    quant::quantize_row(type, row.data(), bytes.data() + r * rb, k);
  }
  return bytes;
}

void expect_same_bits(TensorType type, int64_t rows, int64_t k, int64_t tokens) {
  auto b = make_backend("cuda", 0);
  const auto bytes = quantized(type, rows, k, static_cast<uint32_t>(rows * 31 + k + tokens));
  const Weight w = b->upload(type, bytes.data(), rows, k);
  const int64_t k_pad = cuda::mma_k_padded(k);
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> xh(tokens * k);
  for (auto& v : xh) v = dist(rng);
  // f16 operands in float activations of half the width (the launchers take raw device memory).
  Act x = b->alloc(tokens, k), x16 = b->alloc(tokens, k_pad / 2), w16 = b->alloc(rows, k_pad / 2);
  Act want = b->alloc(tokens, rows), got = b->alloc(tokens, rows);
  b->from_host(xh.data(), x, 0, tokens);
  auto* x16p = reinterpret_cast<uint16_t*>(x16.data);
  cuda::launch_to_f16(x.data, k, tokens, k, x16p);
  cuda::launch_dequant_f16(type, w.data, w.row_bytes(), rows, k, reinterpret_cast<uint16_t*>(w16.data));
  cuda::launch_gemm_f16_mma(reinterpret_cast<uint16_t*>(w16.data), rows, x16p, tokens, k_pad, want.data, rows);
  std::vector<float> ref(tokens * rows), out(tokens * rows);
  b->to_host(want, 0, tokens, ref.data());
  for (int variant = 0; variant <= 4; ++variant) {
    std::vector<float> nan(tokens * rows, std::nanf(""));
    b->from_host(nan.data(), got, 0, tokens);
    ASSERT_TRUE(cuda::launch_matmul_fused(type, w.data, w.row_bytes(), rows, k, x16p, tokens, got.data, rows, variant));
    b->to_host(got, 0, tokens, out.data());
    for (int64_t i = 0; i < tokens * rows; ++i)
      ASSERT_EQ(std::memcmp(&out[i], &ref[i], sizeof(float)), 0)
          << type_traits(type).name << " " << rows << "x" << k << " tokens " << tokens << " variant " << variant
          << " token " << i / rows << " row " << i % rows << ": " << out[i] << " vs " << ref[i];
  }
  for (Act* a : {&x, &x16, &w16, &want, &got}) b->release(*a);
}
#endif

TEST(CudaMatmulFused, SameBitsAsTheTwoStepRoute) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K})
    for (int64_t k : {256, 512, 4096 + 256})
      for (int64_t tokens : {1, 7, 300}) expect_same_bits(type, 200, k, tokens);
  expect_same_bits(TensorType::Q4_K, 1030, 4096 + 256, 300);
  expect_same_bits(TensorType::Q6_K, 1030, 4096 + 256, 130);
#endif
}

}  // namespace
}  // namespace greta::test
