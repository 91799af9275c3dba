// Each CUDA op against the CPU backend (and, for matrix products, a float64 recompute) on
// random data, for every weight format and both routes (the tensor-core GEMM and the
// exact f32 GEMM).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "cuda_fixture.h"
#include "quant/quant.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_ops.h"
#endif

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
  std::vector<float> values16;  // the fast precision's f16 weights (quant::dequantize_row_f16)
};
TestWeight make_weight(TensorType type, int64_t rows, int64_t k, uint32_t seed) {
  TestWeight w;
  const auto src = random_vector(rows * k, seed, 0.5f);
  const int64_t rb = row_bytes(type, k);
  w.bytes.resize(rows * rb);
  w.values.resize(rows * k);
  w.values16.resize(rows * k);
  std::vector<uint16_t> h(k);
  for (int64_t r = 0; r < rows; ++r) {
    quant::quantize_row(type, src.data() + r * k, w.bytes.data() + r * rb, k);
    quant::dequantize_row(type, w.bytes.data() + r * rb, w.values.data() + r * k, k);
    quant::dequantize_row_f16(type, w.bytes.data() + r * rb, h.data(), k);
    for (int64_t i = 0; i < k; ++i) w.values16[r * k + i] = quant::f16_to_f32(h[i]);
  }
  return w;
}

class CudaMatmul : public ::testing::TestWithParam<TensorType> {};

// The exact f32 contract on the GPU (the default backend takes tensor cores for Route::Gemm).
std::unique_ptr<Backend> make_exact_gpu() {
#ifdef GRETA_HAVE_CUDA
  return std::make_unique<cuda::CudaBackend>(0, cuda::CudaOptions{false, TensorType::F32});
#else
  return nullptr;
#endif
}

// Budgets per output, against a float64 product:
//  - exact f32 routes: the product of the exact weights, γ_{K+1} Σ|w x| (the audit's local
//    budget, any summation order);
//  - f16 routes (the tensor-core GEMM, and the fast GEMV of the formats that have a
//    tensor-core kernel): the product of the operands they are declared to multiply — the
//    f16 weights of quant::dequantize_row_f16 and the activations rounded to f16 — so only
//    the f32 accumulation remains: γ'_{K+1} Σ|w16 x16|, with a doubled unit (2^-23)
//    because tensor cores align the terms of their multi-term adds by truncation. Wrong
//    operand rounding anywhere would show far above that.
struct Reference {
  std::vector<double> exact, mag;      // [t][r], exact weights and activations
  std::vector<double> exact16, mag16;  // [t][r], f16 weights and f16-rounded activations
};
Reference reference(const TestWeight& w, const std::vector<float>& x, int64_t rows, int64_t k, int64_t tokens) {
  Reference ref;
  for (auto* v : {&ref.exact, &ref.mag, &ref.exact16, &ref.mag16}) v->resize(tokens * rows);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double e = 0, m = 0, e16 = 0, m16 = 0;
      for (int64_t i = 0; i < k; ++i) {
        const double wv = w.values[r * k + i], xv = x[t * k + i];
        const double wv16 = w.values16[r * k + i], xv16 = quant::f16_to_f32(quant::f32_to_f16(x[t * k + i]));
        e += wv * xv;
        m += std::fabs(wv * xv);
        e16 += wv16 * xv16;
        m16 += std::fabs(wv16 * xv16);
      }
      ref.exact[t * rows + r] = e;
      ref.mag[t * rows + r] = m;
      ref.exact16[t * rows + r] = e16;
      ref.mag16[t * rows + r] = m16;
    }
  return ref;
}

double f32_bound(double k, double mag) { return gamma(k + 1) * mag + 1e-30; }
double tensor_core_bound(double k, double mag16) {
  const double n = k + 1;
  return n * 0x1.0p-23 / (1.0 - n * 0x1.0p-23) * mag16 + 1e-30;
}

// Whether the fast backend's matrix-vector route takes f16 operands for this product.
bool fast_gemv_is_f16(TensorType type, int64_t k) {
#ifdef GRETA_HAVE_CUDA
  alignas(16) static const float probe[4] = {};
  return cuda::gemv_f16_supported(type, k, probe, 4);
#else
  return false;
#endif
}

// y = W x on the GPU within its route's budget (and close to the CPU's result): the
// default backend's GEMV and tensor-core GEMM, and the exact backend's GEMV and f32 GEMM.
// Token counts that do not fill a 128-token tile, a single token and more than two tiles.
void check_matmul(TensorType type, int64_t rows, int64_t k, std::initializer_list<int64_t> token_counts = {1, 7, 300}) {
  const auto w = make_weight(type, rows, k, 17);
  Pair p;
  auto exact_gpu = make_exact_gpu();
  const Weight wg = p.gpu->upload(type, w.bytes.data(), rows, k);
  const Weight we = exact_gpu->upload(type, w.bytes.data(), rows, k);
  const Weight wc = p.cpu->upload(type, w.bytes.data(), rows, k);
  const bool gemv16 = fast_gemv_is_f16(type, k);
  for (int64_t tokens : token_counts) {
    const auto x = random_vector(tokens * k, 100 + static_cast<uint32_t>(tokens));
    auto [xg, xc] = p.acts(x, tokens, k);
    Act xe = exact_gpu->alloc(tokens, k);
    exact_gpu->from_host(x.data(), xe, 0, tokens);
    const Reference ref = reference(w, x, rows, k, tokens);
    enum class Case { Gemv, TensorCores, ExactGemv, ExactGemm };
    for (Case c : {Case::Gemv, Case::TensorCores, Case::ExactGemv, Case::ExactGemm}) {
      const bool exact = c == Case::ExactGemv || c == Case::ExactGemm;
      const Route route = c == Case::Gemv || c == Case::ExactGemv ? Route::Gemv : Route::Gemm;
      const char* label = c == Case::Gemv ? "gemv" : c == Case::TensorCores ? "gemm-tensor-cores"
                                                   : c == Case::ExactGemv   ? "gemv-exact"
                                                                            : "gemm-exact";
      // A few rows in the tensor-core route take the GEMV kernel.
      const bool f16 = !exact && (gemv16 || (c == Case::TensorCores && tokens > 8));
      Backend& gpu = exact ? *exact_gpu : *p.gpu;
      auto [yg, yc] = p.acts({}, tokens, rows);
      Act y = yg;
      if (exact) y = exact_gpu->alloc(tokens, rows);
      gpu.matmul(exact ? we : wg, exact ? xe : xg, y, route);
      p.cpu->matmul(wc, xc, yc, route);
      const auto got = p.read(gpu, y), cpu = p.read(*p.cpu, yc);
      if (exact) exact_gpu->release(y);
      double worst = 0;
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = t * rows + r;
          const double f32 = f32_bound(double(k), ref.mag[i]);
          const double bound = f16 ? tensor_core_bound(double(k), ref.mag16[i]) : f32;
          const double want = f16 ? ref.exact16[i] : ref.exact[i];
          const double err = std::fabs(got[i] - want);
          worst = std::max(worst, err / bound);
          ASSERT_LE(err, bound) << type_label(type) << " rows " << rows << " k " << k << " " << label << " tokens "
                                << tokens << " token " << t << " row " << r;
          // The CPU sits within the f32 bound of the exact product: the two differ by at
          // most the sum (plus the operand rounding for the f16 routes).
          ASSERT_LE(std::fabs(got[i] - cpu[i]), bound + f32 + std::fabs(want - ref.exact[i]));
        }
      ::testing::Test::RecordProperty(type_label(type) + "_r" + std::to_string(rows) + "_k" + std::to_string(k) + "_" +
                                          label + "_t" + std::to_string(tokens) + "_bound_ratio",
                                      std::to_string(worst));
    }
    exact_gpu->release(xe);
  }
}

TEST_P(CudaMatmul, EveryRouteWithinItsBound) {
  GRETA_REQUIRE_CUDA();
  check_matmul(GetParam(), 200, 768);  // rows not a multiple of 8 or 64; k = 3 super-blocks
}

// The tensor-core GEMM's edges: row counts below one tile, a partial tile and several
// tiles, and widths that are not a multiple of 64 (the f16 rows are padded with zeros).
TEST_P(CudaMatmul, TensorCoreTileEdges) {
  GRETA_REQUIRE_CUDA();
  const TensorType type = GetParam();
  const int64_t block = type_traits(type).block_size;
  const int64_t k = block >= 256 ? 256 : block == 32 ? 96 : 64;  // 96: one and a half f16 K steps
  for (int64_t rows : {8, 129, 768}) check_matmul(type, rows, k);
}

// Grids of 128×128 tiles: one wave or less of them (four-stage kernel) and more than a
// wave (three-stage kernel) on a 132-multiprocessor H100; the smaller shapes above take
// the 64×64 tile.
TEST(CudaMatmulTensorCores, LargeTileKernels) {
  GRETA_REQUIRE_CUDA();
  check_matmul(TensorType::Q4_K, 4100, 512, {300});
  check_matmul(TensorType::Q8_0, 6000, 512, {300, 129});
}

// The decode kernels of Q4_K and Q6_K take a different shape (rows per warp, pieces in
// flight, warps per block) by number of rows: each class once, with a row count that
// leaves a partial block, and rows of 13 super-blocks (104 pieces: 3.25 groups of 32
// lanes, so the last chunk of pieces is partial) or 3 (fewer pieces than lanes).
TEST(CudaMatmulRowClasses, EveryGemvShapeOfQ4KAndQ6K) {
  GRETA_REQUIRE_CUDA();
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K}) {
    for (int64_t rows : {1030, 2100}) check_matmul(type, rows, 3328, {1, 3, 70});
    check_matmul(type, 8200, 768, {1, 3, 70});
  }
}

// The persistent f16 GEMV (one token; Q4_K and F16 where every block gets at least three
// 16-row tiles): 34,000 rows are 2,125 tiles, three or more a block at any occupancy up to
// 2,048 threads a multiprocessor on 132 of them. Rows of one step (most warps idle), two,
// and 13 (the two-ahead ring wraps within and across tiles).
TEST(CudaMatmulRowClasses, PersistentF16Gemv) {
  GRETA_REQUIRE_CUDA();
  check_matmul(TensorType::Q4_K, 34000, 256, {1});
  check_matmul(TensorType::Q4_K, 34000, 512, {1});
  check_matmul(TensorType::Q4_K, 34000, 3328, {1});
  check_matmul(TensorType::F16, 34000, 1664, {1});
}

// The streamed f16 GEMV (one token; rows a whole number of 2048-weight chunks): a
// partial tile with fewer tiles than multiprocessors, and hundreds of tiles that wrap the
// shared-memory ring many times; rows of one chunk and of three (F16: two and six).
TEST(CudaMatmulRowClasses, StreamedF16Gemv) {
  GRETA_REQUIRE_CUDA();
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::F16, TensorType::Q8_0, TensorType::Q5_K,
                          TensorType::Q4_0, TensorType::BF16, TensorType::F32}) {
    check_matmul(type, 1030, 2048, {1});
    // The q4_k_m formats with 2,125 tiles; the others with 563 (four or five a block, the
    // ring still wrapped many times) for a quarter of the host's reference work.
    const bool q4_k_m = type == TensorType::Q4_K || type == TensorType::Q6_K;
    check_matmul(type, q4_k_m ? 34000 : 9000, 6144, {1});
  }
}

// The streamed kernel promises the sums of the one-tile kernel, row for row: its result
// for one token must equal, bit for bit, what the tile kernel gives for the same token
// in a two-token product, alone or launched in a group of matrices. Rows of one and two
// chunks (F16, BF16 and Q8_0: two and four; F32: four) hold each warp's activations in
// registers, rows of three (F16, BF16 and Q8_0: six; F32: eight and twelve) read them from
// shared memory: both routes. F32 at K = 4096 is the case that caught the ring's stage
// reuse without a proxy fence (copy_tile): a few rows wrong now and then, with the next
// kernel's blocks on the multiprocessors.
TEST(CudaMatmulRowClasses, StreamedGemvHasTheTileKernelsBits) {
  GRETA_REQUIRE_CUDA();
  const std::pair<int64_t, TensorType> cases[] = {
      {2048, TensorType::Q4_K}, {4096, TensorType::Q4_K}, {6144, TensorType::Q4_K}, {2048, TensorType::Q6_K},
      {4096, TensorType::Q6_K}, {6144, TensorType::Q6_K}, {2048, TensorType::F16},  {4096, TensorType::F16},
      {6144, TensorType::F16},  {2048, TensorType::Q8_0}, {4096, TensorType::Q8_0}, {6144, TensorType::Q8_0},
      {2048, TensorType::Q5_K}, {4096, TensorType::Q5_K}, {6144, TensorType::Q5_K}, {2048, TensorType::Q4_0},
      {4096, TensorType::Q4_0}, {6144, TensorType::Q4_0}, {2048, TensorType::BF16}, {4096, TensorType::BF16},
      {6144, TensorType::BF16}, {2048, TensorType::F32},  {4096, TensorType::F32},  {6144, TensorType::F32}};
  for (const auto& [k, type] : cases) {
    Pair p;
    const auto wa = make_weight(type, 4100, k, 31), wb = make_weight(type, 1030, k, 32);
    const Weight ga = p.gpu->upload(type, wa.bytes.data(), 4100, k), gb = p.gpu->upload(type, wb.bytes.data(), 1030, k);
    auto x = random_vector(k, 41);
    auto [x1, x1c] = p.acts(x, 1, k);
    x.insert(x.end(), x.begin(), x.end());
    auto [x2, x2c] = p.acts(x, 2, k);
    auto [ya1, ya1c] = p.acts({}, 1, 4100);
    auto [yb1, yb1c] = p.acts({}, 1, 1030);
    auto [ya2, ya2c] = p.acts({}, 2, 4100);
    auto [yb2, yb2c] = p.acts({}, 2, 1030);
    const Backend::Product group[] = {{&ga, ya1}, {&gb, yb1}};
    p.gpu->matmuls(group, 2, x1, Route::Gemv);
    p.gpu->matmul(ga, x2, ya2, Route::Gemv);
    p.gpu->matmul(gb, x2, yb2, Route::Gemv);
    const auto a1 = p.read(*p.gpu, ya1), b1 = p.read(*p.gpu, yb1), a2 = p.read(*p.gpu, ya2), b2 = p.read(*p.gpu, yb2);
    for (int64_t r = 0; r < 4100; ++r) ASSERT_EQ(a1[r], a2[r]) << type_label(type) << " k " << k << " row " << r;
    for (int64_t r = 0; r < 1030; ++r) ASSERT_EQ(b1[r], b2[r]) << type_label(type) << " k " << k << " row " << r;
  }
}

// Q4_K matrices and a Q6_K one in one launch (the q, k and v of the layers whose v is
// Q6_K): each row must have the bits of its own format's launch, through the launcher and
// through Backend::matmuls; the launcher refuses what it does not take.
TEST(CudaMatmulRowClasses, TwoFormatsInOneLaunchKeepEachRowsBits) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  for (int64_t k : {2048, 4096}) {
    Pair p;
    const int64_t rows[3] = {1030, 500, 260};
    const TensorType types[3] = {TensorType::Q4_K, TensorType::Q4_K, TensorType::Q6_K};
    std::vector<TestWeight> host;
    std::vector<Weight> w;
    for (int i = 0; i < 3; ++i) {
      host.push_back(make_weight(types[i], rows[i], k, 51 + i));
      w.push_back(p.gpu->upload(types[i], host[i].bytes.data(), rows[i], k));
    }
    auto [x, xc] = p.acts(random_vector(k, 61), 1, k);
    std::vector<Act> alone, launcher, grouped;
    for (int i = 0; i < 3; ++i) {
      alone.push_back(p.acts({}, 1, rows[i]).first);
      launcher.push_back(p.acts({}, 1, rows[i]).first);
      grouped.push_back(p.acts({}, 1, rows[i]).first);
      p.gpu->matmul(w[i], x, alone[i], Route::Gemv);
    }
    cuda::GemvTarget t[3];
    for (int i = 0; i < 3; ++i) t[i] = {w[i].data, w[i].row_bytes(), rows[i], launcher[i].data, rows[i]};
    const bool hopper = p.gpu->name().find("sm_90") != std::string::npos;
    EXPECT_EQ(cuda::launch_gemv_f16_two_formats(types[0], t, 2, types[2], t + 2, 1, k, x.data, 1), hopper);
    const Backend::Product products[] = {{&w[0], grouped[0]}, {&w[1], grouped[1]}, {&w[2], grouped[2]}};
    p.gpu->matmuls(products, 3, x, Route::Gemv);
    for (int i = 0; i < 3 && hopper; ++i) {
      const auto a = p.read(*p.gpu, alone[i]), l = p.read(*p.gpu, launcher[i]), g = p.read(*p.gpu, grouped[i]);
      for (int64_t r = 0; r < rows[i]; ++r) {
        ASSERT_EQ(l[r], a[r]) << "k " << k << " matrix " << i << " row " << r;
        ASSERT_EQ(g[r], a[r]) << "k " << k << " matrix " << i << " row " << r;
      }
    }
    // Not taken: two tokens, the formats the other way round, rows past 4096 (the plain
    // staging's length), four matrices.
    EXPECT_FALSE(cuda::launch_gemv_f16_two_formats(types[0], t, 2, types[2], t + 2, 1, k, x.data, 2));
    EXPECT_FALSE(cuda::launch_gemv_f16_two_formats(types[2], t + 2, 1, types[0], t, 2, k, x.data, 1));
    EXPECT_FALSE(cuda::launch_gemv_f16_two_formats(types[0], t, 2, types[2], t + 2, 1, 14336, x.data, 1));
    EXPECT_FALSE(cuda::launch_gemv_f16_two_formats(types[0], t, 2, types[2], t, 2, k, x.data, 1));
  }
#endif
}

// Gate and up with their SwiGLU in one launch (tiles of eight rows of each): gate, up and
// silu(gate) · up must have the bits of the two products and the swiglu kernel, through
// the launcher and through Backend::gate_up_swiglu; rows that leave a partial tile, rows
// of the plain and of the batched staging (K = 14336); what it does not take is refused.
TEST(CudaMatmulRowClasses, GateUpWithSwiGLUInOneLaunchKeepsTheBits) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::F16, TensorType::Q8_0, TensorType::Q5_K,
                          TensorType::Q4_0, TensorType::BF16, TensorType::F32}) {
    for (int64_t k : {int64_t{2048}, int64_t{14336}}) {
      const int64_t rows = 1030;
      Pair p;
      const auto hg = make_weight(type, rows, k, 71), hu = make_weight(type, rows, k, 72);
      const Weight wg = p.gpu->upload(type, hg.bytes.data(), rows, k), wu = p.gpu->upload(type, hu.bytes.data(), rows, k);
      auto [x, xc] = p.acts(random_vector(k, 73), 1, k);
      Act sep[3], lau[3], fused[3];  // gate, up, act
      for (int i = 0; i < 3; ++i) {
        sep[i] = p.acts({}, 1, rows).first;
        lau[i] = p.acts({}, 1, rows).first;
        fused[i] = p.acts({}, 1, rows).first;
      }
      p.gpu->matmul(wg, x, sep[0], Route::Gemv);
      p.gpu->matmul(wu, x, sep[1], Route::Gemv);
      p.gpu->swiglu(sep[0], sep[1], sep[2]);
      const cuda::GemvTarget tg{wg.data, wg.row_bytes(), rows, lau[0].data, rows};
      const cuda::GemvTarget tu{wu.data, wu.row_bytes(), rows, lau[1].data, rows};
      const bool hopper = p.gpu->name().find("sm_90") != std::string::npos;
      EXPECT_EQ(cuda::launch_gemv_f16_swiglu(type, tg, tu, lau[2].data, k, x.data), hopper);
      p.gpu->gate_up_swiglu(wg, wu, x, fused[0], fused[1], fused[2], Route::Gemv);
      for (int i = 0; i < 3; ++i) {
        const auto want = p.read(*p.gpu, sep[i]), f = p.read(*p.gpu, fused[i]);
        const auto l = hopper ? p.read(*p.gpu, lau[i]) : want;
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(f[r], want[r]) << type_label(type) << " k " << k << " output " << i << " row " << r;
          ASSERT_EQ(l[r], want[r]) << type_label(type) << " k " << k << " output " << i << " row " << r;
        }
      }
      // Not taken: gate and up of different shapes, rows that are not whole 128-weight steps.
      const cuda::GemvTarget shorter{wu.data, wu.row_bytes(), rows - 8, lau[1].data, rows};
      EXPECT_FALSE(cuda::launch_gemv_f16_swiglu(type, tg, shorter, lau[2].data, k, x.data));
      EXPECT_FALSE(cuda::launch_gemv_f16_swiglu(TensorType::Q4_0, tg, tu, lau[2].data, 2048 + 32, x.data));
    }
  }
#endif
}

// The same classes for the formats with their own decode pieces since (Q8_0 and Q4_0:
// 34- and 18-byte blocks, only 2-byte aligned; Q5_K: fifth bits in qh; BF16 and F32: a
// conversion a pair; F32: 64-weight steps), and rows that are not whole 128-weight steps
// (the exact kernel; F32: whole 64-weight steps).
TEST(CudaMatmulRowClasses, EveryGemvShapeOfTheLaterFormats) {
  GRETA_REQUIRE_CUDA();
  for (TensorType type : {TensorType::Q8_0, TensorType::Q5_K, TensorType::Q4_0, TensorType::BF16, TensorType::F32}) {
    for (int64_t rows : {1030, 2100}) check_matmul(type, rows, 3328, {1, 3, 70});
    check_matmul(type, 8200, 768, {1, 3, 70});
  }
  for (TensorType type : {TensorType::Q8_0, TensorType::Q4_0, TensorType::BF16, TensorType::F32})
    check_matmul(type, 300, 3328 + 32, {1, 3});
  check_matmul(TensorType::F32, 300, 3328 + 64, {1, 3});
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
// the f32 routes must return the dequantized weights themselves, bit for bit, and the f16
// routes the fast precision's f16 weights (quant::dequantize_row_f16): this checks each kernel's
// dequantization of every element position (codes, scales, mins) exactly, where the
// bounds above would only catch gross errors.
TEST_P(CudaMatmul, OneHotActivationsReturnTheExactWeights) {
  GRETA_REQUIRE_CUDA();
  const TensorType type = GetParam();
  const int64_t rows = 40, k = 512;
  const auto w = make_weight(type, rows, k, 29);
  Pair p;
  auto exact_gpu = make_exact_gpu();
  std::vector<float> eye(k * k, 0.0f);
  for (int64_t i = 0; i < k; ++i) eye[i * k + i] = 1.0f;
  for (Backend* gpu : {p.gpu.get(), exact_gpu.get()}) {
    const bool tensor_cores = gpu == p.gpu.get();
    const Weight wg = gpu->upload(type, w.bytes.data(), rows, k);
    Act x = gpu->alloc(k, k), y = gpu->alloc(k, rows);
    gpu->from_host(eye.data(), x, 0, k);
    for (Route route : {Route::Gemv, Route::Gemm}) {
      gpu->matmul(wg, x, y, route);
      const auto got = p.read(*gpu, y);
      const bool f16 = tensor_cores && (route == Route::Gemm || fast_gemv_is_f16(type, k));
      for (int64_t t = 0; t < k; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          const float want = f16 ? w.values16[r * k + t] : w.values[r * k + t];
          ASSERT_EQ(got[t * rows + r], want) << type_label(type) << " " << route_label(route)
                                             << (f16 ? " tensor cores" : "") << " row " << r << " element " << t;
        }
    }
    gpu->release(x);
    gpu->release(y);
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

// Attention: cuda_attention_test.cpp.

}  // namespace
}  // namespace greta::test
