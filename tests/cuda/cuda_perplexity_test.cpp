// Perplexity on the CUDA backend (windows of whole-row prefills, the session reset between
// them) against the score of llama.cpp's own logits, in both precisions.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda_fixture.h"
#include "model/perplexity.h"

namespace greta::test {
namespace {

// exp(mean NLL) of positions n/2 .. n-2 from logits laid out [position][n_vocab].
double score(const std::vector<float>& logits, int64_t n_vocab, const std::vector<int32_t>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  double nll = 0;
  int64_t count = 0;
  for (int64_t p = n / 2; p < n - 1; ++p, ++count) {
    const float* row = logits.data() + p * n_vocab;
    double m = row[0], z = 0;
    for (int64_t v = 1; v < n_vocab; ++v) m = std::max(m, static_cast<double>(row[v]));
    for (int64_t v = 0; v < n_vocab; ++v) z += std::exp(row[v] - m);
    nll += m + std::log(z) - row[tokens[static_cast<size_t>(p + 1)]];
  }
  return std::exp(nll / static_cast<double>(count));
}

// Exact: the CPU's bound (logits within 1e-3 of llama.cpp). Fast (f16 operands): a token's
// NLL moves by at most twice its row's largest logit change, so the score by a factor within
// exp(2 max |Δlogit|); 2e-2 allows logits 1e-2 off (an H200 measured 4e-5 relative).
TEST(CudaPerplexity, MatchesTheScoreOfLlamaCppsLogits) {
  GRETA_REQUIRE_CUDA();
  const auto ref = Reference::load(shared_path("reference/stories260K/s3_long.json"));
  const double want = score(ref.logits, ref.n_vocab, ref.prompt_tokens);
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
