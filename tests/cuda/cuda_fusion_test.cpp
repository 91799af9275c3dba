// The CUDA fused kernels (add + rmsnorm, RoPE of q and k + KV store), which run only when
// nothing observes the stages in between, give the same logits bit for bit as the
// stage-by-stage kernels, prefill and decode, in both precisions.
#include "cuda_fixture.h"

#include "../model/fusion_run.h"

namespace greta::test {
namespace {

class CudaFusion : public ::testing::TestWithParam<PrecisionClass> {};

TEST_P(CudaFusion, FusedKernelsMatchTheStageByStagePathBitForBit) {
  GRETA_REQUIRE_CUDA();
  for (const char* file : {"stories260K.gguf", "synth-tiny-q4_k_m.gguf", "synth-tiny-mix.gguf"}) {
    BackendModel gpu("cuda", file, GetParam().name);
    const auto prompt = spread_prompt(*gpu.model, 12);
    std::vector<int32_t> tokens;
    IdleProbe idle;
    const auto fused = logits_of_run(*gpu.model, prompt, 16, nullptr, &tokens);
    const auto staged = logits_of_run(*gpu.model, prompt, 16, &idle, &tokens);
    ASSERT_EQ(fused.size(), staged.size());
    for (size_t i = 0; i < fused.size(); ++i) EXPECT_EQ(fused[i], staged[i]) << file << " step " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaFusion, ::testing::Values(kExact, kFast),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace greta::test
