// Attention on the CUDA backend with each cache type and option set: the f32 cache against
// the CPU backend, the f16 cache (both the f32 kernels over f16 values and the
// tensor-core flash-attention prefill) against a float64 recompute over the cache as the
// GPU holds it, within the audit's attention budget (LocalChecker::attention) plus the
// operand rounding of the route.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <numeric>
#include <random>

#include "cuda_fixture.h"
#include "quant/quant.h"
#ifdef GRETA_HAVE_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/cuda_attention_mma.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_ops.h"
#endif

namespace greta::test {
namespace {

#ifdef GRETA_HAVE_CUDA

constexpr double kUnit = 0x1.0p-24;     // f32 unit roundoff
constexpr double kF16Unit = 0x1.0p-11;  // q and p rounded to f16 in the flash route
constexpr double kF16HalfSubnormal = 0x1.0p-25;
double gamma(double k, double unit) { return k * unit / (1.0 - k * unit); }

std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<int32_t> consecutive(int32_t first, int32_t n) {
  std::vector<int32_t> p(n);
  std::iota(p.begin(), p.end(), first);
  return p;
}

// n distinct positions below n_ctx, 0 and n_ctx − 1 among them, in random order.
std::vector<int32_t> scattered(int32_t n_ctx, int32_t n, uint32_t seed) {
  std::vector<int32_t> all = consecutive(0, n_ctx);
  std::mt19937 rng(seed);
  std::shuffle(all.begin() + 1, all.end() - 1, rng);
  std::vector<int32_t> p(all.begin(), all.begin() + n - 1);
  p.push_back(n_ctx - 1);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

struct AttnCase {
  int n_heads, n_kv_heads, head_dim;
  int64_t n_ctx;
  std::vector<int32_t> pos;
  int kv_shift;
};

// The float64 attention over K and V (f32 copies of the cache) and, per output, the budget
// of LocalChecker::attention for two routes: the f32 kernels (f32 operands and sums) and
// flash attention (q and p rounded to f16: δ += u Σ|q k| scale, ε_p += u with u = 2^-11;
// tensor-core sums with the doubled unit 2^-23 in the γ terms). ops_budget is for q that
// is already the rounded operand: only the sums (2^-23), the log2(e) scaling and exp2 of
// the scores, and p passed as two f16 parts (2^-22, η near zero) remain.
struct Reference {
  std::vector<double> y, f32_budget, flash_budget, ops_budget;
};
Reference reference(const AttnCase& c, const std::vector<float>& q, const std::vector<float>& K,
                    const std::vector<float>& V) {
  const int64_t d = c.head_dim, kvd = int64_t{c.n_kv_heads} * d, group = c.n_heads / c.n_kv_heads;
  const double scale = 1.0 / std::sqrt(double(d));
  const size_t n_out = c.pos.size() * c.n_heads * d;
  Reference ref{std::vector<double>(n_out), std::vector<double>(n_out), std::vector<double>(n_out),
                std::vector<double>(n_out)};
  for (size_t r = 0; r < c.pos.size(); ++r) {
    const int64_t n = int64_t{c.pos[r]} + 1;
    std::vector<double> s(n), p(n);
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const float* qh = q.data() + (int64_t(r) * c.n_heads + h) * d;
      const int64_t off = h / group * d;
      double mx = -INFINITY, delta = 0, delta_f = 0, delta_o = 0;
      for (int64_t j = 0; j < n; ++j) {
        const float* k = K.data() + std::max<int64_t>(j - c.kv_shift, 0) * kvd + off;
        double dot = 0, a = 0;
        for (int64_t i = 0; i < d; ++i) {
          dot += double(qh[i]) * k[i];
          a += std::fabs(double(qh[i]) * k[i]);
        }
        s[j] = dot * scale;
        delta = std::max(delta, gamma(double(d) + 1, kUnit) * a * scale + 2 * kUnit * std::fabs(s[j]));
        delta_f = std::max(delta_f, (gamma(double(d) + 1, 2 * kUnit) + kF16Unit) * a * scale + 2 * kUnit * std::fabs(s[j]));
        delta_o = std::max(delta_o, gamma(double(d) + 1, 2 * kUnit) * a * scale + 4 * kUnit * std::fabs(s[j]));
        mx = std::max(mx, s[j]);
      }
      double sum = 0, spread = 0;
      for (int64_t j = 0; j < n; ++j) {
        p[j] = std::exp(s[j] - mx);
        sum += p[j];
        spread = std::max(spread, mx - s[j]);
      }
      const double eps_p = std::expm1(2 * delta) + (double(n) + 4) * kUnit + kUnit * spread;
      const double eps_f = std::expm1(2 * delta_f) + (double(n) + 4) * kUnit + kUnit * spread + kF16Unit;
      const double eps_o = std::expm1(2 * delta_o) + (double(n) + 8) * kUnit + kUnit * spread + 0x1.0p-22;
      for (int64_t i = 0; i < d; ++i) {
        double y = 0, mag = 0, v_abs = 0;
        for (int64_t j = 0; j < n; ++j) {
          const double v = V[std::max<int64_t>(j - c.kv_shift, 0) * kvd + off + i];
          y += p[j] / sum * v;
          mag += p[j] / sum * std::fabs(v);
          v_abs += std::fabs(v);
        }
        const size_t o = (r * c.n_heads + h) * d + i;
        ref.y[o] = y;
        ref.f32_budget[o] = 1.25 * (gamma(double(n) + 1, kUnit) + eps_p + 2 * kUnit) * mag + 1e-30;
        ref.flash_budget[o] = 1.25 * (gamma(double(n) + 1, 2 * kUnit) + eps_f + 2 * kUnit) * mag + 1e-30;
        ref.ops_budget[o] = 1.25 * (gamma(double(n) + 1, 2 * kUnit) + eps_o + 2 * kUnit) * mag +
                            1.25 * kF16HalfSubnormal * v_abs / sum + 1e-30;
      }
    }
  }
  return ref;
}

// Worst ratio of |got − y| to the budget over all outputs.
double worst_ratio(const std::vector<float>& got, const std::vector<double>& y, const std::vector<double>& budget) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::fabs(double(got[i]) - y[i]);
    worst = std::max(worst, std::isfinite(e) ? e / budget[i] : INFINITY);
  }
  return worst;
}

// A CUDA backend with one layer's cache filled through kv_store from k_all and v_all
// (positions 0..n_ctx-1), q uploaded, and an output of q's shape.
struct GpuCase {
  cuda::CudaBackend gpu;
  KvCache cache;
  Act k, v, q, out;
  GpuCase(cuda::CudaOptions opt, const AttnCase& c, const std::vector<float>& k_all, const std::vector<float>& v_all,
          const std::vector<float>& q_host)
      : gpu(0, opt), cache(gpu.alloc_cache(1, c.n_ctx, int64_t{c.n_kv_heads} * c.head_dim)) {
    const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim, q_dim = int64_t{c.n_heads} * c.head_dim;
    const auto rows = static_cast<int64_t>(c.pos.size());
    k = gpu.alloc(c.n_ctx, kv_dim), v = gpu.alloc(c.n_ctx, kv_dim), q = gpu.alloc(rows, q_dim), out = gpu.alloc(rows, q_dim);
    gpu.from_host(k_all.data(), k, 0, c.n_ctx);
    gpu.from_host(v_all.data(), v, 0, c.n_ctx);
    gpu.from_host(q_host.data(), q, 0, rows);
    gpu.kv_store(cache, 0, k, v, consecutive(0, static_cast<int32_t>(c.n_ctx)).data());
  }
  ~GpuCase() {
    for (Act a : {k, v, q, out}) gpu.release(a);
    gpu.free_cache(cache);
  }
  GpuCase(const GpuCase&) = delete;
  GpuCase& operator=(const GpuCase&) = delete;
};

class CudaAttention : public ::testing::TestWithParam<AttnCase> {};

// For each option set: fill the cache through kv_store (positions 0..n_ctx-1 in one
// batch), run attention through both routes and check. The f32 cache is compared with the
// CPU backend as before: both compute the same softmax-weighted sum in f32 in different
// orders (the GPU's online softmax adds a rescaling per chunk; long decode caches are split
// and merged), a few 1e-7 apart on O(1) data; 2e-5 · (1 + |y|) leaves room without hiding
// a wrong row or length (those move outputs by O(0.1)).
TEST_P(CudaAttention, EveryCacheTypeAndRoute) {
  GRETA_REQUIRE_CUDA();
  const auto& c = GetParam();
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim, q_dim = int64_t{c.n_heads} * c.head_dim;
  const auto rows = static_cast<int64_t>(c.pos.size());
  const auto k_all = random_vector(c.n_ctx * kv_dim, 7), v_all = random_vector(c.n_ctx * kv_dim, 8);
  const auto q = random_vector(rows * q_dim, 9);
  const auto all_pos = consecutive(0, static_cast<int32_t>(c.n_ctx));
  const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim};

  // The CPU reference for the f32 cache.
  auto cpu = make_backend("cpu", 4);
  KvCache cc = cpu->alloc_cache(1, c.n_ctx, kv_dim);
  Act kc = cpu->alloc(c.n_ctx, kv_dim), vc = cpu->alloc(c.n_ctx, kv_dim), qc = cpu->alloc(rows, q_dim),
      rc = cpu->alloc(rows, q_dim);
  cpu->from_host(k_all.data(), kc, 0, c.n_ctx);
  cpu->from_host(v_all.data(), vc, 0, c.n_ctx);
  cpu->from_host(q.data(), qc, 0, rows);
  cpu->kv_store(cc, 0, kc, vc, all_pos.data());
  cpu->attention(Route::Gemm, qc, cc, 0, c.pos.data(), shape, rc, c.kv_shift);
  std::vector<float> ref(rows * q_dim);
  cpu->to_host(rc, 0, rows, ref.data());

  Reference f16_ref;  // over the f16 cache, the same for both f16 option sets
  // With tensor cores both routes take q rounded to f16 (the same operand): checked also
  // against the float64 attention of that q, with only their sums' budget.
  std::vector<float> q_f16(q.size());
  for (size_t i = 0; i < q.size(); ++i) q_f16[i] = quant::f16_to_f32(quant::f32_to_f16(q[i]));
  Reference ops_ref;
  const cuda::CudaOptions option_sets[] = {{false, TensorType::F32}, {true, TensorType::F16}, {false, TensorType::F16}};
  for (const auto& opt : option_sets) {
    GpuCase g(opt, c, k_all, v_all, q);
    const std::string label = std::string(opt.tensor_cores ? "tensor cores, " : "f32 products, ") +
                              (opt.kv_type == TensorType::F16 ? "f16 cache" : "f32 cache");
    std::vector<float> K(c.n_ctx * kv_dim), V(c.n_ctx * kv_dim), got(rows * q_dim);
    g.gpu.read_cache(g.cache, 0, c.n_ctx, K.data(), V.data());
    if (opt.kv_type == TensorType::F32) {
      ASSERT_EQ(K, k_all);
      ASSERT_EQ(V, v_all);
    }
    for (Route route : {Route::Gemm, Route::Gemv}) {
      const char* rl = route == Route::Gemv ? "gemv" : "gemm";
      g.gpu.attention(route, g.q, g.cache, 0, c.pos.data(), shape, g.out, c.kv_shift);
      g.gpu.to_host(g.out, 0, rows, got.data());
      if (opt.kv_type == TensorType::F32) {
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_LE(std::fabs(double(got[i]) - ref[i]), 2e-5 * (1.0 + std::fabs(ref[i])))
              << label << ", " << rl << ", element " << i;
        continue;
      }
      if (f16_ref.y.empty()) f16_ref = reference(c, q, K, V);
      const double ratio = worst_ratio(got, f16_ref.y, opt.tensor_cores ? f16_ref.flash_budget : f16_ref.f32_budget);
      EXPECT_LE(ratio, 1.0) << label << ", " << rl;
      RecordProperty(label + " " + rl + " worst error / budget", std::to_string(ratio));
      if (opt.tensor_cores) {
        if (ops_ref.y.empty()) ops_ref = reference(c, q_f16, K, V);
        const double r = worst_ratio(got, ops_ref.y, ops_ref.ops_budget);
        EXPECT_LE(r, 1.0) << label << ", " << rl << ": against the rounded q, only the sums may differ";
        RecordProperty(label + " " + rl + " worst error / sums-only budget", std::to_string(r));
      }
    }
  }
  for (Act a : {kc, vc, qc, rc}) cpu->release(a);
  cpu->free_cache(cc);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaAttention,
    ::testing::Values(AttnCase{8, 4, 8, 64, {0, 1, 5, 63}, 0},                // stories260K's heads (d = 8)
                      AttnCase{8, 2, 64, 1100, {0, 31, 32, 200, 1099}, 0},   // GQA 4:1, a split decode cache
                      AttnCase{32, 8, 128, 3000, {2999}, 0},                 // one decode row, many segments
                      AttnCase{4, 4, 128, 300, {3, 150, 299}, 2},            // misaddressed window (fault)
                      AttnCase{4, 2, 32, 512, consecutive(0, 300), 0},       // a prefill of 300 rows
                      AttnCase{8, 2, 128, 4096, consecutive(3796, 300), 0},  // 8B-like heads deep in the cache
                      AttnCase{2, 2, 64, 2048, scattered(2048, 70, 3), 2},   // scattered positions, fault
                      AttnCase{8, 4, 8, 256, consecutive(100, 130), 0},      // d = 8, tiles past one block
                      AttnCase{4, 1, 32, 1000, {999, 5, 500, 64, 63, 0, 998, 128}, 0},  // GQA 4:1, one tile
                      AttnCase{8, 2, 64, 700, consecutive(1, 200), 2}),      // consecutive rows under a fault
    [](const auto& info) { return "case" + std::to_string(info.index); });

// Split decode over an f16 cache in the fast precision, with the tensor-core kernel
// (CudaOptions::attention_mma: rows through shared memory, q·k and p·v on mma) in its
// cluster launch (segments merged inside the cluster) and in its plain launch (a combine
// pass), and with the register kernel: each within the sums-only budget of the float64
// attention of the f16-rounded q over the cache as the GPU holds it. Head sizes 64 and
// 128, GQA groups of 1, 2, 4 and 8 heads, segments ending inside a stage, several rows,
// rows past some segments, every output written.
TEST(CudaAttentionMma, SplitDecodeWithinTheSumsOnlyBudget) {
  GRETA_REQUIRE_CUDA();
  const AttnCase cases[] = {
      {32, 8, 128, 8192, {8191}, 0},      {32, 8, 128, 3000, {2999, 1500, 129}, 0}, {8, 2, 64, 1100, {1099, 200}, 0},
      {8, 8, 128, 900, {899, 301}, 0},    {16, 8, 64, 2100, {2099, 777}, 0},         {32, 4, 128, 5000, {4999, 300}, 0},
      {32, 8, 128, 700, {699, 130, 200}, 0}, {8, 2, 128, 1000, {999, 160, 70}, 0},
  };
  enum Kind { kCluster, kTensorCores, kRegisters };
  const char* names[] = {"cluster launch", "tensor-core kernel with a combine pass", "register kernel"};
  for (const auto& c : cases) {
    const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim, q_dim = int64_t{c.n_heads} * c.head_dim;
    const auto rows = static_cast<int64_t>(c.pos.size());
    const auto k_all = random_vector(c.n_ctx * kv_dim, 17), v_all = random_vector(c.n_ctx * kv_dim, 18);
    const auto q = random_vector(rows * q_dim, 19);
    std::vector<float> q_f16(q.size());
    for (size_t i = 0; i < q.size(); ++i) q_f16[i] = quant::f16_to_f32(quant::f32_to_f16(q[i]));
    const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim};
    Reference ref;
    for (Kind kind : {kCluster, kTensorCores, kRegisters}) {
      cuda::CudaOptions opt{true, TensorType::F16};
      opt.attention_mma = kind != kRegisters;
      opt.attention_cluster = kind == kCluster;
      GpuCase g(opt, c, k_all, v_all, q);
      if (ref.y.empty()) {
        std::vector<float> K(c.n_ctx * kv_dim), V(c.n_ctx * kv_dim);
        g.gpu.read_cache(g.cache, 0, c.n_ctx, K.data(), V.data());
        ref = reference(c, q_f16, K, V);
      }
      const std::vector<float> poison(rows * q_dim, NAN);
      g.gpu.from_host(poison.data(), g.out, 0, rows);
      g.gpu.attention(Route::Gemv, g.q, g.cache, 0, c.pos.data(), shape, g.out, c.kv_shift);
      std::vector<float> got(rows * q_dim);
      g.gpu.to_host(g.out, 0, rows, got.data());
      const double r = worst_ratio(got, ref.y, ref.ops_budget);
      EXPECT_LE(r, 1.0) << "heads " << c.n_heads << "/" << c.n_kv_heads << " of " << c.head_dim << ", " << c.n_ctx
                        << " keys, " << names[kind];
    }
  }
}

// The cluster launch is what decode takes on the 8B shape (32 heads over 8 KV heads of
// 128) up to 8192 keys: its clusters fit the device at once, with 8 to 16 segments a row
// (the test above checks its results); far longer caches go to the plain launch.
TEST(CudaAttentionMma, ClusterLaunchTakesThe8BShape) {
  GRETA_REQUIRE_CUDA();
  cuda::AttentionArgs a;
  a.kv_f16 = a.f16_operands = true;
  a.kv_dim = 8 * 128;
  a.n_ctx = 8192;
  a.rows = 1;
  a.n_heads = 32;
  a.n_kv_heads = 8;
  a.head_dim = 128;
  int dev = 0, major = 0;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev), cudaSuccess);
  if (major < 9) GTEST_SKIP() << "clusters of the tensor-core kernel need sm_90";
  const int n = cuda::attention_segments_in_one_wave(a, cuda::SplitKernel::Cluster);
  std::printf("cluster segments of the 8B shape on this device: %d\n", n);
  EXPECT_GE(n, 8);
  EXPECT_LE(n, 16);
  EXPECT_EQ(n, cuda::attention_cluster_segments(a, 4));
  EXPECT_EQ(cuda::split_kernel_for(a, cuda::SplitKernel::Cluster, 8192), cuda::SplitKernel::Cluster);
  EXPECT_EQ(cuda::split_kernel_for(a, cuda::SplitKernel::Cluster, 100000), cuda::SplitKernel::TensorCores);
  EXPECT_EQ(cuda::split_kernel_for(a, cuda::SplitKernel::TensorCores, 8192), cuda::SplitKernel::TensorCores);
}

#endif  // GRETA_HAVE_CUDA

}  // namespace
}  // namespace greta::test
