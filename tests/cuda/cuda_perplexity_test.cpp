// Perplexity on the CUDA backend (windows of whole-row prefills, the session reset between
// them) against the score of llama.cpp's own logits, in both precisions.
#include <gtest/gtest.h>

#include <cmath>

#include "../perplexity_support.h"
#include "cuda_fixture.h"
#include "model/perplexity.h"

namespace greta::test {
namespace {

// Exact: the CPU's bound (logits within 1e-3 of llama.cpp). Fast (f16 operands): a token's
// NLL moves by at most twice its row's largest logit change, so the score by a factor within
// exp(2 max |Δlogit|); 2e-2 allows logits 1e-2 off (an H200 measured 4e-5 relative).
TEST(CudaPerplexity, MatchesTheScoreOfLlamaCppsLogits) {
  GRETA_REQUIRE_CUDA();
  const auto ref = Reference::load(shared_path("reference/stories260K/s3_long.json"));
  NllSums sums;
  add_nlls(ref.logits, ref.n_vocab, ref.prompt_tokens, ref.positions() / 2, sums);
  const double want = sums.perplexity();
  for (const auto& [precision, tolerance] : {std::pair{"exact", 1e-4}, std::pair{"fast", 2e-2}}) {
    BackendModel m("cuda", "stories260K.gguf", precision);
    Session s(*m.model, 0);
    PerplexityOptions o;
    o.window = ref.positions();
    const PerplexityResult one = perplexity(s, ref.prompt_tokens, o);
    EXPECT_NEAR(one.perplexity, want, tolerance * want) << precision;
    // Several windows in one session: each is a fresh prefill, so running them twice
    // gives the same score.
    o.window = 64;
    o.bos = 1;
    const PerplexityResult a = perplexity(s, ref.prompt_tokens, o), b = perplexity(s, ref.prompt_tokens, o);
    EXPECT_EQ(a.windows, 5) << precision;
    EXPECT_EQ(a.perplexity, b.perplexity) << precision;
  }
}

}  // namespace
}  // namespace greta::test
