// Determinism: the bytes depend on the seed only, never on the thread count.
#include "synth/weight_gen.h"

#include <gtest/gtest.h>

#include <cmath>

#include "quant/quant.h"
#include "synth/synth.h"

using namespace greta;
using namespace greta::synth;

TEST(WeightGen, IndependentOfThreadCount) {
  const int64_t row = 512, rows = 300;
  for (TensorType type : {TensorType::F32, TensorType::Q4_K, TensorType::Q8_0}) {
    std::vector<uint8_t> one(static_cast<size_t>(row_bytes(type, row) * rows));
    std::vector<uint8_t> two(one.size()), seven(one.size());
    fill_tensor(one, type, row, rows, 42, {}, 1);
    fill_tensor(two, type, row, rows, 42, {}, 2);
    fill_tensor(seven, type, row, rows, 42, {}, 7);
    EXPECT_EQ(one, two);
    EXPECT_EQ(one, seven);
  }
}

TEST(WeightGen, SeedChangesEveryRow) {
  const int64_t row = 256, rows = 16;
  std::vector<float> a(row * rows), b(row * rows);
  fill_tensor({reinterpret_cast<uint8_t*>(a.data()), a.size() * 4}, TensorType::F32, row, rows, 1, {}, 1);
  fill_tensor({reinterpret_cast<uint8_t*>(b.data()), b.size() * 4}, TensorType::F32, row, rows, 2, {}, 1);
  for (int64_t r = 0; r < rows; ++r) {
    int same = 0;
    for (int64_t i = 0; i < row; ++i) same += a[r * row + i] == b[r * row + i];
    EXPECT_LT(same, 4) << "row " << r;
  }
  // Rows of one tensor differ from each other too.
  int same_rows = 0;
  for (int64_t i = 0; i < row; ++i) same_rows += a[i] == a[row + i];
  EXPECT_LT(same_rows, 4);
}

TEST(WeightGen, DistributionHasRequestedMoments) {
  std::vector<float> v(1 << 20);
  generate_row(9, 0, {0.5f, 0.03f}, v.data(), static_cast<int64_t>(v.size()));
  double sum = 0, sq = 0;
  for (float x : v) {
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  const double mean = sum / v.size(), sd = std::sqrt(sq / v.size() - mean * mean);
  EXPECT_NEAR(mean, 0.5, 1e-3);
  EXPECT_NEAR(sd, 0.03, 3e-4);
}

TEST(WeightGen, WholeModelIsReproducible) {
  SynthOptions o;
  o.shape = preset("tiny");
  o.shape.layers = 2;
  o.type = WeightType::parse("q4_k_m");
  o.seed = 5;
  o.threads = 1;
  const auto a = build_writer(o).write_bytes();
  o.threads = 3;
  const auto b = build_writer(o).write_bytes();
  EXPECT_EQ(a, b);
  o.seed = 6;
  const auto c = build_writer(o).write_bytes();
  ASSERT_EQ(a.size(), c.size());  // same layout, and the name records the seed
  EXPECT_NE(a, c);
}

TEST(WeightGen, TensorSeedsDiffer) {
  EXPECT_NE(tensor_seed(1, 0), tensor_seed(1, 1));
  EXPECT_NE(tensor_seed(1, 0), tensor_seed(2, 0));
}

TEST(WeightGen, LargeTensorsUseTheChunkPoolDeterministically) {
  const int64_t row = 4096, rows = 1024;  // 4 Mi elements: the pooled path
  ASSERT_TRUE(uses_chunk_pool(row, rows));
  ASSERT_FALSE(uses_chunk_pool(256, 4096));
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::F16}) {
    std::vector<uint8_t> one(static_cast<size_t>(row_bytes(type, row) * rows)), three(one.size()), other(one.size());
    fill_tensor(one, type, row, rows, 3, {}, 1);
    fill_tensor(three, type, row, rows, 3, {}, 3);
    fill_tensor(other, type, row, rows, 4, {}, 2);
    EXPECT_EQ(one, three);
    EXPECT_NE(one, other);
  }
}

TEST(WeightGen, PooledRowsAreDistinctAndHaveTheDistribution) {
  const int64_t row = 4096, rows = 1024;
  const TensorType type = TensorType::Q4_K;
  const int64_t rb = row_bytes(type, row);
  std::vector<uint8_t> q(static_cast<size_t>(rb * rows));
  fill_tensor(q, type, row, rows, 11, {0.0f, 0.03f}, 0);
  std::vector<float> v(static_cast<size_t>(row)), first(static_cast<size_t>(row));
  double sum = 0, sq = 0;
  for (int64_t r = 0; r < rows; ++r) {
    greta::quant::dequantize_row(type, q.data() + r * rb, v.data(), row);
    if (r == 0) first = v;
    if (r > 0) {
      int same = 0;
      for (int64_t i = 0; i < row; ++i) same += v[i] == first[i];
      EXPECT_LT(same, row / 4) << "row " << r << " repeats row 0";
    }
    for (float x : v) {
      sum += x;
      sq += static_cast<double>(x) * x;
    }
  }
  const double n = static_cast<double>(row * rows), mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 1e-3);
  EXPECT_NEAR(sd, 0.03, 0.003);
}
