// The decode chain (cuda_decode_chain.cu) runs a decode step's one-token products and the
// add + rmsnorm and SwiGLU between them in one launch per stretch between two attentions.
// It must give the logits of the launch-by-launch path bit for bit: on a synthetic model
// small enough to write in a moment but with rows the chain takes (widths that are
// multiples of 2048) and the Q4_K_M mix (Q6_K v and down in some layers, so chains mix
// formats), greedy decode with the chain on, with it on and no graphs, and with it off.
#include "cuda_fixture.h"
#include "cuda_streamed_model.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace greta::test {
namespace {

#ifdef GRETA_HAVE_CUDA

class CudaDecodeChain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (cuda_device_available()) path_ = write_streamed_model("chain");
  }
  static void TearDownTestSuite() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  struct Run {
    std::vector<std::vector<float>> logits;
    int64_t chains = 0;
  };
  static Run run(bool chain, bool graphs, std::vector<int32_t>& tokens, const std::string& path = path_) {
    cuda::CudaOptions o;
    o.chain = chain;
    o.graphs = graphs;
    cuda::CudaBackend backend(0, o);
    LlamaModel model(gguf::GgufFile::open(path), backend);
    Run r;
    r.logits = greedy_decode_logits(model, tokens);
    r.chains = backend.chain_launches();
    return r;
  }
  static std::string path_;
};
std::string CudaDecodeChain::path_;

TEST_F(CudaDecodeChain, GivesTheLaunchByLaunchLogitsBitForBit) {
  GRETA_REQUIRE_CUDA();
  std::vector<int32_t> tokens;
  const Run off = run(false, true, tokens);
  const Run on = run(true, true, tokens);
  const Run direct = run(true, false, tokens);
  EXPECT_EQ(off.chains, 0);
  // Per decode step: layer 0's q, k, v, then one chain per later layer (o of the layer
  // before through q, k, v) and the last layer's o through the logits.
  EXPECT_GE(direct.chains, 12 * 5) << "the chain never ran";
  EXPECT_GT(on.chains, 0) << "the chain never ran under graphs";
  ASSERT_EQ(on.logits.size(), off.logits.size());
  ASSERT_EQ(direct.logits.size(), off.logits.size());
  for (size_t i = 0; i < off.logits.size(); ++i) {
    EXPECT_EQ(on.logits[i], off.logits[i]) << "step " << i;
    EXPECT_EQ(direct.logits[i], off.logits[i]) << "step " << i << " (no graphs)";
  }
}

// On models whose rows the chain cannot take (widths below 2048), the queued add + rmsnorm
// and SwiGLU must still run, on their own, in their place.
TEST_F(CudaDecodeChain, LeavesProductsItCannotTakeAsTheyWere) {
  GRETA_REQUIRE_CUDA();
  for (const char* file : {"stories260K.gguf", "synth-tiny-q4_k_m.gguf", "synth-tiny-mix.gguf"}) {
    std::vector<int32_t> tokens;
    const Run off = run(false, true, tokens, shared_path(std::string("models/") + file));
    const Run on = run(true, true, tokens, shared_path(std::string("models/") + file));
    EXPECT_EQ(on.chains, 0) << file;
    ASSERT_EQ(on.logits.size(), off.logits.size()) << file;
    for (size_t i = 0; i < off.logits.size(); ++i) EXPECT_EQ(on.logits[i], off.logits[i]) << file << " step " << i;
  }
}

#else

TEST(CudaDecodeChain, SkippedWithoutCuda) { GRETA_REQUIRE_CUDA(); }

#endif  // GRETA_HAVE_CUDA

}  // namespace
}  // namespace greta::test
