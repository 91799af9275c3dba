// stories260K (all f32) against llama.cpp's logits and the float64 forward.
#include <gtest/gtest.h>

#include <algorithm>

#include "model_fixture.h"

namespace greta::test {
namespace {

class Stories260K : public ::testing::TestWithParam<std::string> {};

TEST_P(Stories260K, LogitsMatchLlamaCppAndFloat64) {
  auto m = load_shared_model("stories260K.gguf");
  const auto ref = Reference::load(shared_path("reference/stories260K/" + GetParam() + ".json"));
  Session s(*m.model, 0);
  const auto logits = s.prefill(ref.prompt_tokens, LogitsRows::All);
  const auto vs_llama = compare_logits(ref.logits, logits, ref.n_vocab);
  const auto vs_exact = compare_logits(ref.exact_logits, logits, ref.n_vocab);
  for (size_t t = 0; t < vs_llama.per_position.size(); ++t) {
    EXPECT_LE(vs_llama.per_position[t].max_abs_diff, 1e-3) << "position " << t;
    EXPECT_LE(vs_exact.per_position[t].max_abs_diff, 1e-3) << "position " << t;
  }
  EXPECT_EQ(vs_llama.top1_agreement, 1.0);
  RecordProperty("max_abs_diff_llama_cpp", std::to_string(vs_llama.max_abs_diff));
  RecordProperty("max_abs_diff_float64", std::to_string(vs_exact.max_abs_diff));
}

TEST_P(Stories260K, GreedyContinuationMatchesLlamaCpp) {
  auto m = load_shared_model("stories260K.gguf");
  const auto ref = Reference::load(shared_path("reference/stories260K/" + GetParam() + ".json"));
  const auto got = greedy_continuation(*m.model, ref.prompt_tokens, static_cast<int>(ref.greedy_tokens.size()));
  EXPECT_EQ(got, ref.greedy_tokens);
}

INSTANTIATE_TEST_SUITE_P(Prompts, Stories260K, ::testing::Values("s0_bos_only", "s1_short", "s2_story", "s3_long"));

}  // namespace
}  // namespace greta::test
