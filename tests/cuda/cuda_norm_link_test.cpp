// The add + rmsnorm split over two streamed products (NormLink, CudaOptions::norm_parts):
// the product before it adds the residual and sums each tile's squares at its tile ends,
// the product after it normalizes while it stages its input, and no kernel of its own runs
// in between. Against the add + rmsnorm kernel (norm_parts off) every value must keep its
// bits: the two differ only in the order of the double sum of squares, which rounds to the
// same float mean unless it lies within ~1e-16 of a rounding boundary.
#include <random>

#include "cuda_fixture.h"
#include "cuda_streamed_model.h"
#include "quant/quant.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace greta::test {
namespace {

#ifdef GRETA_HAVE_CUDA

bool hopper() { return cuda::CudaBackend(0).name().find("sm_90") != std::string::npos; }

// Op by op inside a step: o-like and next products of 2048 × 2048 Q4_K (rows of whole
// 2048-weight chunks: the streamed kernel), the normalized row either staged by the next
// product or read by another op (then formed on its own from the tile sums).
class CudaNormLink : public ::testing::Test {
 protected:
  static constexpr int64_t kDim = 2048;
  struct Values {
    std::vector<float> proj, sum, norm, out;
    int64_t links = 0;
  };
  static std::vector<uint8_t> q4k_matrix(uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 0.05f);
    std::vector<float> row(kDim);
    const int64_t row_bytes = greta::row_bytes(TensorType::Q4_K, kDim);
    std::vector<uint8_t> m(static_cast<size_t>(row_bytes * kDim));
    for (int64_t r = 0; r < kDim; ++r) {
      for (auto& v : row) v = d(rng);
      quant::quantize_row(TensorType::Q4_K, row.data(), m.data() + r * row_bytes, kDim);
    }
    return m;
  }
  static std::vector<float> vec(uint32_t seed, float mean, float sd) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(mean, sd);
    std::vector<float> v(kDim);
    for (auto& x : v) x = d(rng);
    return v;
  }
  // consume: the next op is a product of the normalized row; otherwise an add reads it.
  static Values run(bool norm_parts, bool consume) {
    cuda::CudaOptions o;
    o.norm_parts = norm_parts;
    o.graphs = false;
    cuda::CudaBackend b(0, o);
    const auto wo_host = q4k_matrix(1), wn_host = q4k_matrix(2);
    const Weight wo = b.upload(TensorType::Q4_K, wo_host.data(), kDim, kDim);
    const Weight wn = b.upload(TensorType::Q4_K, wn_host.data(), kDim, kDim);
    const auto gain_host = vec(3, 1.0f, 0.2f);
    const Weight gain = b.upload(TensorType::F32, gain_host.data(), 1, kDim);
    Act att = b.alloc(1, kDim), x = b.alloc(1, kDim), proj = b.alloc(1, kDim), sum = b.alloc(1, kDim),
        norm = b.alloc(1, kDim), out = b.alloc(1, kDim), zero = b.alloc(1, kDim);
    b.from_host(vec(4, 0.0f, 1.0f).data(), att, 0, 1);
    b.from_host(vec(5, 0.0f, 2.0f).data(), x, 0, 1);
    b.run_step(StepInputs{}, [&] {
      b.matmul(wo, att, proj, Route::Gemv);
      b.add_rmsnorm(x, proj, sum, gain, 1e-5f, norm);
      if (consume) b.matmul(wn, norm, out, Route::Gemv);
      else b.add(norm, zero, out);
    });
    Values v;
    for (auto [act, dst] : {std::pair{proj, &v.proj}, {sum, &v.sum}, {norm, &v.norm}, {out, &v.out}}) {
      dst->resize(kDim);
      b.to_host(act, 0, 1, dst->data());
    }
    v.links = b.norm_links();
    for (Act a : {att, x, proj, sum, norm, out, zero}) b.release(a);
    return v;
  }
};

TEST_F(CudaNormLink, SplitOverTwoProductsKeepsEveryValue) {
  GRETA_REQUIRE_CUDA();
  if (!hopper()) GTEST_SKIP() << "the streamed kernel needs sm_90";
  for (bool consume : {true, false}) {
    const Values off = run(false, consume), on = run(true, consume);
    EXPECT_EQ(off.links, 0);
    EXPECT_EQ(on.links, 1) << "the add + rmsnorm was not split (consume " << consume << ")";
    EXPECT_EQ(on.proj, off.proj) << "b itself is still stored";
    EXPECT_EQ(on.sum, off.sum);
    EXPECT_EQ(on.norm, off.norm) << (consume ? "stored by the consuming launch" : "formed on its own");
    EXPECT_EQ(on.out, off.out);
  }
}

// A whole model: greedy decode of a 4-layer 2048-wide Q4_K_M synthetic model (Q6_K v and
// down in some layers, so both sides meet the two-format and SwiGLU launches), with the
// split on (graphs on and off) against off.
class CudaNormLinkModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (cuda_device_available()) path_ = write_streamed_model("norm-link");
  }
  static void TearDownTestSuite() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  struct Run {
    std::vector<std::vector<float>> logits;
    int64_t links = 0;
  };
  static Run run(bool norm_parts, bool graphs, std::vector<int32_t>& tokens) {
    cuda::CudaOptions o;
    o.norm_parts = norm_parts;
    o.graphs = graphs;
    cuda::CudaBackend backend(0, o);
    LlamaModel model(gguf::GgufFile::open(path_), backend);
    Run r;
    r.logits = greedy_decode_logits(model, tokens);
    r.links = backend.norm_links();
    return r;
  }
  static std::string path_;
};
std::string CudaNormLinkModel::path_;

TEST_F(CudaNormLinkModel, GreedyDecodeKeepsItsLogits) {
  GRETA_REQUIRE_CUDA();
  if (!hopper()) GTEST_SKIP() << "the streamed kernel needs sm_90";
  std::vector<int32_t> tokens;
  const Run off = run(false, true, tokens);
  const Run on = run(true, true, tokens);
  const Run direct = run(true, false, tokens);
  EXPECT_EQ(off.links, 0);
  // Per decode step, two in each of the 4 layers (after o and after down; the last one
  // into the logits).
  EXPECT_GE(direct.links, 12 * 8) << "the add + rmsnorm was not split";
  EXPECT_GT(on.links, 0) << "the add + rmsnorm was not split under graphs";
  ASSERT_EQ(on.logits.size(), off.logits.size());
  ASSERT_EQ(direct.logits.size(), off.logits.size());
  for (size_t i = 0; i < off.logits.size(); ++i) {
    EXPECT_EQ(on.logits[i], off.logits[i]) << "step " << i;
    EXPECT_EQ(direct.logits[i], off.logits[i]) << "step " << i << " (no graphs)";
  }
}

#else

TEST(CudaNormLink, SkippedWithoutCuda) { GRETA_REQUIRE_CUDA(); }

#endif  // GRETA_HAVE_CUDA

}  // namespace
}  // namespace greta::test
