// The activation-stationary decode GEMV (one token of Q4_K / Q6_K): within the f32 budget
// of a float64 recompute at the 8B shapes and at small odd ones, the exact weights against
// one-hot activations, and each row's result independent of the rows launched with it.
// The kernel is off in the backend's dispatch by default, so the tests launch it directly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "cuda_fixture.h"
#include "quant/quant.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_matmul_gemv_stationary.h"
#endif

namespace greta::test {
namespace {

constexpr double kUnit = 0x1.0p-24;  // f32 unit roundoff
double gamma(double k) { return k * kUnit / (1.0 - k * kUnit); }

std::vector<float> normal_vector(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct Quantized {
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // the exact dequantized weights
};
Quantized quantize(TensorType type, int64_t rows, int64_t k, uint32_t seed) {
  Quantized q;
  const auto src = normal_vector(rows * k, seed, 0.5f);
  const int64_t rb = row_bytes(type, k);
  q.bytes.resize(rows * rb);
  q.values.resize(rows * k);
  for (int64_t r = 0; r < rows; ++r) {
    quant::quantize_row(type, src.data() + r * k, q.bytes.data() + r * rb, k);
    quant::dequantize_row(type, q.bytes.data() + r * rb, q.values.data() + r * k, k);
  }
  return q;
}

// y = W x for one token by the stationary kernel, on the CUDA backend's memory.
std::vector<float> gpu_gemv(Backend& gpu, TensorType type, const uint8_t* bytes, int64_t rows, int64_t k,
                            const std::vector<float>& x) {
  const Weight w = gpu.upload(type, bytes, rows, k);
  Act xa = gpu.alloc(1, k), ya = gpu.alloc(1, rows);
  gpu.from_host(x.data(), xa, 0, 1);
#ifdef GRETA_HAVE_CUDA
  EXPECT_TRUE(cuda::launch_gemv_stationary(type, w.data, w.row_bytes(), rows, k, xa.data, ya.data, true));
#endif
  std::vector<float> y(rows);
  gpu.to_host(ya, 0, 1, y.data());
  gpu.release(xa);
  gpu.release(ya);
  return y;
}

const TensorType kTypes[] = {TensorType::Q4_K, TensorType::Q6_K};

void check_bound(TensorType type, int64_t rows, int64_t k) {
  auto gpu = make_backend("cuda", 0);
  const auto w = quantize(type, rows, k, 41);
  const auto x = normal_vector(k, 7, 1.0f);
  const auto got = gpu_gemv(*gpu, type, w.bytes.data(), rows, k, x);
  for (int64_t r = 0; r < rows; ++r) {
    double e = 0, m = 0;
    for (int64_t i = 0; i < k; ++i) {
      const double p = double(w.values[r * k + i]) * x[i];
      e += p;
      m += std::fabs(p);
    }
    ASSERT_LE(std::fabs(got[r] - e), gamma(double(k) + 1) * m + 1e-30)
        << type_traits(type).name << " rows " << rows << " k " << k << " row " << r;
  }
}

// The 8B model's row classes (K/V, Q/O/down, gate/up; down is 14336 wide).
TEST(CudaGemvStationary, EightBShapesWithinTheF32Bound) {
  GRETA_REQUIRE_CUDA();
  for (TensorType type : kTypes) {
    check_bound(type, 1024, 4096);
    check_bound(type, 4096, 4096);
    check_bound(type, 14336, 4096);
    check_bound(type, 4096, 14336);
  }
}

// Rows of one to eight super-blocks (fewer pieces than a warp, partial warps) and row
// counts that leave partial chunks, fewer rows than blocks, or a single row.
TEST(CudaGemvStationary, SmallOddShapesWithinTheF32Bound) {
  GRETA_REQUIRE_CUDA();
  for (TensorType type : kTypes)
    for (int64_t k : {256, 512, 768, 2048 + 256})
      for (int64_t rows : {1, 3, 8, 9, 37, 129, 300}) check_bound(type, rows, k);
}

// One-hot activations: each output is the dequantized weight itself, bit for bit, at
// every element position of a row.
TEST(CudaGemvStationary, OneHotActivationsReturnTheExactWeights) {
  GRETA_REQUIRE_CUDA();
  auto gpu = make_backend("cuda", 0);
  const int64_t rows = 21, k = 512;
  for (TensorType type : kTypes) {
    const auto w = quantize(type, rows, k, 29);
    for (int64_t i = 0; i < k; ++i) {
      std::vector<float> x(k, 0.0f);
      x[i] = 1.0f;
      const auto got = gpu_gemv(*gpu, type, w.bytes.data(), rows, k, x);
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(got[r], w.values[r * k + i]) << type_traits(type).name << " row " << r << " element " << i;
    }
  }
}

// A row's result does not depend on how many rows share the launch (the grid, the rows
// per block and the row's place in its chunk all change with the row count).
TEST(CudaGemvStationary, RowsIndependentOfTheLaunch) {
  GRETA_REQUIRE_CUDA();
  auto gpu = make_backend("cuda", 0);
  for (TensorType type : kTypes)
    for (int64_t k : {4096, 14336}) {
      const int64_t rows = 3000;
      const auto w = quantize(type, rows, k, 53);
      const auto x = normal_vector(k, 11, 1.0f);
      const auto all = gpu_gemv(*gpu, type, w.bytes.data(), rows, k, x);
      const int64_t rb = row_bytes(type, k);
      for (int64_t first : {0, 5, 1234})
        for (int64_t n : {1, 7, 61, 1000}) {
          const auto part = gpu_gemv(*gpu, type, w.bytes.data() + first * rb, n, k, x);
          for (int64_t r = 0; r < n; ++r)
            ASSERT_EQ(std::memcmp(&part[r], &all[first + r], sizeof(float)), 0)
                << type_traits(type).name << " k " << k << " rows " << first << "+" << n << " row " << r;
        }
    }
}

}  // namespace
}  // namespace greta::test
