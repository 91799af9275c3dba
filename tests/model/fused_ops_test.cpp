// The fused backend ops' default implementations (add_rmsnorm, rope_qk_store) give the CPU
// the same bits as the stage-by-stage forward.
#include <gtest/gtest.h>

#include "fusion_run.h"
#include "model_fixture.h"

namespace greta::test {
namespace {

TEST(FusedOps, CpuDefaultsMatchTheStageByStagePathBitForBit) {
  for (const char* file : {"stories260K.gguf", "synth-tiny-q4_k_m.gguf", "synth-tiny-mix.gguf"}) {
    auto m = load_shared_model(file);
    const auto prompt = spread_prompt(*m.model, 12);
    std::vector<int32_t> tokens;
    IdleProbe idle;
    const auto fused = logits_of_run(*m.model, prompt, 16, nullptr, &tokens);
    const auto staged = logits_of_run(*m.model, prompt, 16, &idle, &tokens);
    ASSERT_EQ(fused.size(), staged.size());
    for (size_t i = 0; i < fused.size(); ++i) EXPECT_EQ(fused[i], staged[i]) << file << " step " << i;
  }
}

}  // namespace
}  // namespace greta::test
