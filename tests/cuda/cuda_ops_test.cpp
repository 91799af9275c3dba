// Each CUDA op against the CPU backend (and, for matrix products, a float64 recompute) on
// random data, for every weight format and both routes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "cuda_fixture.h"
#include "quant/quant.h"

namespace greta::test {
namespace {

constexpr double kUnit = 0x1.0p-24;  // f32 unit roundoff
double gamma(double k) { return k * kUnit / (1.0 - k * kUnit); }

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Both backends with the same inputs; helpers to move activations in and out.
struct Pair {
  std::unique_ptr<Backend> gpu = make_backend("cuda", 0);
  std::unique_ptr<Backend> cpu = make_backend("cpu", 2);
  std::vector<Act> owned_gpu, owned_cpu;
  ~Pair() {
    for (auto& a : owned_gpu) gpu->release(a);
    for (auto& a : owned_cpu) cpu->release(a);
  }
  std::pair<Act, Act> acts(const std::vector<float>& h, int64_t rows, int64_t cols) {
    Act g = gpu->alloc(rows, cols), c = cpu->alloc(rows, cols);
    if (!h.empty()) {
      gpu->from_host(h.data(), g, 0, rows);
      cpu->from_host(h.data(), c, 0, rows);
    }
    owned_gpu.push_back(g);
    owned_cpu.push_back(c);
    return {g, c};
  }
  std::vector<float> read(Backend& b, Act a) {
    std::vector<float> h(a.rows * a.cols);
    b.to_host(a, 0, a.rows, h.data());
    return h;
  }
};

const TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                             TensorType::Q4_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

std::string type_label(TensorType t) { return std::string(type_traits(t).name); }
const char* route_label(Route r) { return r == Route::Gemv ? "gemv" : "gemm"; }

// A random [rows][k] matrix quantized to `type`, and its exact dequantized values.
struct TestWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};
TestWeight make_weight(TensorType type, int64_t rows, int64_t k, uint32_t seed) {
  TestWeight w;
  const auto src = random_vector(rows * k, seed, 0.5f);
  const int64_t rb = row_bytes(type, k);
  w.bytes.resize(rows * rb);
  w.values.resize(rows * k);
  for (int64_t r = 0; r < rows; ++r) {
    quant::quantize_row(type, src.data() + r * k, w.bytes.data() + r * rb, k);
    quant::dequantize_row(type, w.bytes.data() + r * rb, w.values.data() + r * k, k);
  }
  return w;
}

class CudaMatmul : public ::testing::TestWithParam<TensorType> {};

// y = W x on the GPU must sit within the f32 accumulation bound γ_{K+1} Σ|w x| of the
// float64 product of the same dequantized weights (the audit's local budget, which holds
// by construction for any summation order), on both routes, for one token (decode), a
// few tokens, and a batch that does not fill the 64×64 GEMM tile.
void check_matmul(TensorType type, int64_t rows, int64_t k) {
  const auto w = make_weight(type, rows, k, 17);
  Pair p;
  const Weight wg = p.gpu->upload(type, w.bytes.data(), rows, k);
  const Weight wc = p.cpu->upload(type, w.bytes.data(), rows, k);
  for (int64_t tokens : {1, 3, 70}) {
    const auto x = random_vector(tokens * k, 100 + static_cast<uint32_t>(tokens));
    auto [xg, xc] = p.acts(x, tokens, k);
    for (Route route : {Route::Gemv, Route::Gemm}) {
      auto [yg, yc] = p.acts({}, tokens, rows);
      p.gpu->matmul(wg, xg, yg, route);
      p.cpu->matmul(wc, xc, yc, route);
      const auto got = p.read(*p.gpu, yg), cpu = p.read(*p.cpu, yc);
      double worst = 0;
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          double exact = 0, mag = 0;
          for (int64_t i = 0; i < k; ++i) {
            const double prod = double(w.values[r * k + i]) * x[t * k + i];
            exact += prod;
            mag += std::fabs(prod);
          }
          const double bound = gamma(double(k) + 1) * mag + 1e-30;
          const double err = std::fabs(got[t * rows + r] - exact);
          worst = std::max(worst, err / bound);
          ASSERT_LE(err, bound) << type_label(type) << " k " << k << " " << route_label(route) << " token " << t << " row " << r;
          // The CPU sits within the same bound, so the two differ by at most twice it.
          ASSERT_LE(std::fabs(got[t * rows + r] - cpu[t * rows + r]), 2 * bound);
        }
      ::testing::Test::RecordProperty(type_label(type) + "_k" + std::to_string(k) + "_" + route_label(route) + "_t" +
                                          std::to_string(tokens) + "_bound_ratio",
                                      std::to_string(worst));
    }
  }
}

TEST_P(CudaMatmul, BothRoutesWithinTheF32AccumulationBound) {
  GRETA_REQUIRE_CUDA();
  check_matmul(GetParam(), 200, 768);  // rows not a multiple of 8 or 64; k = 3 super-blocks
}

// The decode kernels of Q4_K and Q6_K take a different shape (rows per warp, pieces in
// flight, warps per block) by number of rows: each class once, with a row count that
// leaves a partial block, and rows of 13 super-blocks (104 pieces: 3.25 groups of 32
// lanes, so the last chunk of pieces is partial) or 3 (fewer pieces than lanes).
TEST(CudaMatmulRowClasses, EveryGemvShapeOfQ4KAndQ6K) {
  GRETA_REQUIRE_CUDA();
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K}) {
    for (int64_t rows : {1030, 2100}) check_matmul(type, rows, 3328);
    check_matmul(type, 8200, 768);
  }
}

// Unquantized rows of a width that is not a multiple of 8 (stories260K's ffn is 172):
// the vector loads cover what they can and the rest goes element by element.
// (Quantized rows are whole blocks, so only the unquantized formats have such rows.)
TEST(CudaMatmulOddWidth, UnquantizedRows) {
  GRETA_REQUIRE_CUDA();
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    check_matmul(type, 70, 172);
    check_matmul(type, 9, 37);
  }
}

// Against one-hot activations every output is a single exact product w·1 plus zeros, so
// both routes must return the dequantized weights themselves, bit for bit: this checks
// each kernel's dequantization of every element position (codes, scales, mins) exactly,
// where the bound above would only catch gross errors.
TEST_P(CudaMatmul, OneHotActivationsReturnTheExactWeights) {
  GRETA_REQUIRE_CUDA();
  const TensorType type = GetParam();
  const int64_t rows = 40, k = 512;
  const auto w = make_weight(type, rows, k, 29);
  Pair p;
  const Weight wg = p.gpu->upload(type, w.bytes.data(), rows, k);
  std::vector<float> eye(k * k, 0.0f);
  for (int64_t i = 0; i < k; ++i) eye[i * k + i] = 1.0f;
  auto [xg, xc] = p.acts(eye, k, k);
  for (Route route : {Route::Gemv, Route::Gemm}) {
    auto [yg, yc] = p.acts({}, k, rows);
    p.gpu->matmul(wg, xg, yg, route);
    const auto got = p.read(*p.gpu, yg);
    for (int64_t t = 0; t < k; ++t)
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(got[t * rows + r], w.values[r * k + t]) << type_label(type) << " " << route_label(route) << " row " << r
                                                          << " element " << t;
  }
}

// The embedding is an exact dequantization: bit-identical to the CPU's.
TEST_P(CudaMatmul, EmbedIsBitIdenticalToTheCpu) {
  GRETA_REQUIRE_CUDA();
  const TensorType type = GetParam();
  const int64_t rows = 50, k = 512;
  const auto w = make_weight(type, rows, k, 23);
  Pair p;
  const Weight wg = p.gpu->upload(type, w.bytes.data(), rows, k);
  const Weight wc = p.cpu->upload(type, w.bytes.data(), rows, k);
  const std::vector<int32_t> tokens = {0, 49, 7, 7, 23};
  auto [og, oc] = p.acts({}, static_cast<int64_t>(tokens.size()), k);
  p.gpu->embed(wg, tokens.data(), static_cast<int64_t>(tokens.size()), og);
  p.cpu->embed(wc, tokens.data(), static_cast<int64_t>(tokens.size()), oc);
  EXPECT_EQ(p.read(*p.gpu, og), p.read(*p.cpu, oc)) << type_label(type);
}

INSTANTIATE_TEST_SUITE_P(Types, CudaMatmul, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return type_label(info.param); });

// Elementwise ops: the same expressions as the CPU. Sums are exact roundings (bit-equal);
// rmsnorm may differ in the last bit of the mean (its f64 sum runs in another order):
// 4u relative; swiglu uses the GPU's expf (≤ 2 ulp against glibc's): 8u relative, the
// audit's own budget for it.
TEST(CudaElementwise, MatchTheCpu) {
  GRETA_REQUIRE_CUDA();
  Pair p;
  const int64_t rows = 5, cols = 1024;
  const auto a = random_vector(rows * cols, 1), b = random_vector(rows * cols, 2, 4.0f);
  auto [ag, ac] = p.acts(a, rows, cols);
  auto [bg, bc] = p.acts(b, rows, cols);
  auto near = [](const std::vector<float>& x, const std::vector<float>& y, double rel) {
    for (size_t i = 0; i < x.size(); ++i)
      if (std::fabs(double(x[i]) - y[i]) > rel * std::fabs(double(y[i])) + 1e-30) return false;
    return true;
  };
  {
    auto [og, oc] = p.acts({}, rows, cols);
    p.gpu->add(ag, bg, og);
    p.cpu->add(ac, bc, oc);
    EXPECT_EQ(p.read(*p.gpu, og), p.read(*p.cpu, oc));
  }
  {
    auto [og, oc] = p.acts({}, rows, cols);
    p.gpu->swiglu(bg, ag, og);
    p.cpu->swiglu(bc, ac, oc);
    EXPECT_TRUE(near(p.read(*p.gpu, og), p.read(*p.cpu, oc), 8 * kUnit));
  }
  {
    const auto gamma_w = random_vector(cols, 3);
    const Weight gg = p.gpu->upload(TensorType::F32, gamma_w.data(), 1, cols);
    const Weight gc = p.cpu->upload(TensorType::F32, gamma_w.data(), 1, cols);
    auto [og, oc] = p.acts({}, rows, cols);
    p.gpu->rmsnorm(bg, gg, 1e-5f, og);
    p.cpu->rmsnorm(bc, gc, 1e-5f, oc);
    EXPECT_TRUE(near(p.read(*p.gpu, og), p.read(*p.cpu, oc), 4 * kUnit));
  }
  {
    auto [cg, cc] = p.acts({}, rows, cols);
    p.gpu->copy(bg, cg);
    p.cpu->copy(bc, cc);
    p.gpu->scale(cg, 1.25f);
    p.cpu->scale(cc, 1.25f);
    EXPECT_EQ(p.read(*p.gpu, cg), p.read(*p.cpu, cc));
  }
}

// RoPE: the same two products and a sum per element, rounded separately: bit-equal.
TEST(CudaElementwise, RopeMatchesTheCpu) {
  GRETA_REQUIRE_CUDA();
  Pair p;
  const int64_t rows = 3;
  const int head_dim = 64, rope_dim = 48, heads = 4;  // a partial rotation leaves dims 48..63 alone
  const auto x = random_vector(rows * heads * head_dim, 5);
  std::vector<float> cs(rows * (rope_dim / 2) * 2);
  for (size_t i = 0; i < cs.size() / 2; ++i) {
    const double ang = 0.37 * double(i) + 1.0;
    cs[2 * i] = static_cast<float>(std::cos(ang));
    cs[2 * i + 1] = static_cast<float>(std::sin(ang));
  }
  auto [xg, xc] = p.acts(x, rows, heads * head_dim);
  p.gpu->rope(xg, head_dim, rope_dim, cs.data());
  p.cpu->rope(xc, head_dim, rope_dim, cs.data());
  EXPECT_EQ(p.read(*p.gpu, xg), p.read(*p.cpu, xc));
}

struct AttnCase {
  int n_heads, n_kv_heads, head_dim;
  int64_t n_ctx;
  std::vector<int32_t> pos;
  int kv_shift;
};

class CudaAttention : public ::testing::TestWithParam<AttnCase> {};

// kv_store, then attention through both routes against the CPU. Both compute the same
// softmax-weighted sum in f32 with different orders (the GPU's online softmax adds a
// rescaling per chunk; long decode caches are split and merged): with O(1) random data
// the two agree to a few 1e-7 relative to the output magnitude; 2e-5 · (1 + |y|) leaves
// room without hiding a wrong row or length (those move outputs by O(0.1)).
TEST_P(CudaAttention, BothRoutesMatchTheCpu) {
  GRETA_REQUIRE_CUDA();
  const auto& c = GetParam();
  Pair p;
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim, q_dim = int64_t{c.n_heads} * c.head_dim;
  const auto rows = static_cast<int64_t>(c.pos.size());
  KvCache gc, cc;
  gc.n_ctx = cc.n_ctx = c.n_ctx;
  gc.kv_dim = cc.kv_dim = kv_dim;
  // Fill the whole cache through kv_store, in one batch at positions 0..n_ctx-1.
  const auto k_all = random_vector(c.n_ctx * kv_dim, 7), v_all = random_vector(c.n_ctx * kv_dim, 8);
  auto [kg, kc] = p.acts(k_all, c.n_ctx, kv_dim);
  auto [vg, vc] = p.acts(v_all, c.n_ctx, kv_dim);
  auto [cache_kg, cache_kc] = p.acts({}, c.n_ctx, kv_dim);
  auto [cache_vg, cache_vc] = p.acts({}, c.n_ctx, kv_dim);
  gc.k = {cache_kg.data};
  gc.v = {cache_vg.data};
  cc.k = {cache_kc.data};
  cc.v = {cache_vc.data};
  std::vector<int32_t> all_pos(c.n_ctx);
  for (int64_t i = 0; i < c.n_ctx; ++i) all_pos[i] = static_cast<int32_t>(i);
  p.gpu->kv_store(gc, 0, kg, vg, all_pos.data());
  p.cpu->kv_store(cc, 0, kc, vc, all_pos.data());
  ASSERT_EQ(p.read(*p.gpu, cache_kg), k_all);
  ASSERT_EQ(p.read(*p.gpu, cache_vg), v_all);

  const auto q = random_vector(rows * q_dim, 9);
  auto [qg, qc] = p.acts(q, rows, q_dim);
  const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim};
  auto [ref_g, ref_c] = p.acts({}, rows, q_dim);
  p.cpu->attention(Route::Gemm, qc, cc, 0, c.pos.data(), shape, ref_c, c.kv_shift);
  const auto ref = p.read(*p.cpu, ref_c);
  for (Route route : {Route::Gemm, Route::Gemv}) {
    auto [og, oc] = p.acts({}, rows, q_dim);
    p.gpu->attention(route, qg, gc, 0, c.pos.data(), shape, og, c.kv_shift);
    const auto got = p.read(*p.gpu, og);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double err = std::fabs(double(got[i]) - ref[i]);
      worst = std::max(worst, err);
      ASSERT_LE(err, 2e-5 * (1.0 + std::fabs(ref[i]))) << route_label(route) << " element " << i;
    }
    RecordProperty(std::string(route_label(route)) + "_max_abs_diff", std::to_string(worst));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaAttention,
    ::testing::Values(AttnCase{8, 4, 8, 64, {0, 1, 5, 63}, 0},                 // stories260K's heads (d = 8)
                      AttnCase{8, 2, 64, 1100, {0, 31, 32, 200, 1099}, 0},    // GQA 4:1, a split decode cache
                      AttnCase{32, 8, 128, 3000, {2999}, 0},                  // one decode row, many segments
                      AttnCase{4, 4, 128, 300, {3, 150, 299}, 2}),            // misaddressed window (fault)
    [](const auto& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace greta::test
