// Perplexity (model/perplexity.h) against llama.cpp's logits and the float64 forward, and its
// windows: each starts with BOS, only its second half is scored, the tail is counted.
#include "model/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "greta/error.h"
#include "../perplexity_support.h"
#include "model_fixture.h"

namespace greta::test {
namespace {

PerplexityOptions windows_of(int64_t window, std::optional<int32_t> bos = {}, int64_t max_windows = 0) {
  PerplexityOptions o;
  o.window = window;
  o.bos = bos;
  o.max_windows = max_windows;
  return o;
}

TEST(Perplexity, OneWindowMatchesLlamaCppsLogits) {
  const auto ref = Reference::load(shared_path("reference/stories260K/s3_long.json"));
  auto m = load_shared_model("stories260K.gguf");
  Session s(*m.model, 0);
  const int64_t n = ref.positions();
  const PerplexityResult r = perplexity(s, ref.prompt_tokens, windows_of(n));
  NllSums want;
  add_nlls(ref.logits, ref.n_vocab, ref.prompt_tokens, n / 2, want);
  EXPECT_EQ(r.scored, want.count);
  EXPECT_EQ(r.scored, n - 1 - n / 2);
  EXPECT_EQ(r.windows, 1);
  EXPECT_EQ(r.left_out, 0);
  // An f32 engine lands within 1e-3 of llama.cpp's logits on this all-f32 model.
  EXPECT_NEAR(r.perplexity, want.perplexity(), 1e-4 * r.perplexity);
  EXPECT_GT(r.error, 0.0);
}

TEST(Perplexity, QuantizedModelMatchesTheFloat64Forward) {
  const auto ref = Reference::load(shared_path("reference/synth/synth-tiny-q4_k_m.ids48.json"));
  auto m = load_shared_model("synth-tiny-q4_k_m.gguf");
  Session s(*m.model, 0);
  const PerplexityResult r = perplexity(s, ref.prompt_tokens, windows_of(ref.positions()));
  NllSums want;
  add_nlls(ref.exact_logits, ref.n_vocab, ref.prompt_tokens, ref.positions() / 2, want);
  EXPECT_NEAR(r.perplexity, want.perplexity(), 1e-3 * r.perplexity);
}

TEST(Perplexity, WindowsStartWithBosAndScoreTheirSecondHalf) {
  const auto ref = Reference::load(shared_path("reference/stories260K/s3_long.json"));
  auto m = load_shared_model("stories260K.gguf");
  const int64_t w = 64, n_vocab = ref.n_vocab;
  Session s(*m.model, 0);
  const PerplexityResult r = perplexity(s, ref.prompt_tokens, windows_of(w, 1));
  // By hand: every whole window as its own prefill, its first token replaced by BOS.
  NllSums want;
  for (int64_t i = 0; (i + 1) * w <= ref.positions(); ++i) {
    std::vector<int32_t> win(ref.prompt_tokens.begin() + i * w, ref.prompt_tokens.begin() + (i + 1) * w);
    win[0] = 1;
    Session fresh(*m.model, 0);
    add_nlls(fresh.prefill(win, LogitsRows::All), n_vocab, win, w / 2, want);
  }
  EXPECT_EQ(r.windows, ref.positions() / w);
  EXPECT_EQ(r.left_out, ref.positions() % w);
  EXPECT_EQ(r.scored, r.windows * (w - 1 - w / 2));
  EXPECT_EQ(r.scored, want.count);
  EXPECT_NEAR(r.mean_nll, want.nll / want.count, 1e-12);

  Session again(*m.model, 0);
  const PerplexityResult two = perplexity(again, ref.prompt_tokens, windows_of(w, 1, 2));
  EXPECT_EQ(two.windows, 2);
  EXPECT_EQ(two.left_out, ref.positions() - 2 * w);

  // The rows' scores are added in order whatever the number of threads that computed them
  // (one window of 322 tokens: 160 rows of 512, enough work for the pool to split).
  PerplexityOptions one_thread = windows_of(ref.positions()), three = windows_of(ref.positions());
  one_thread.threads = 1;
  three.threads = 3;
  EXPECT_EQ(perplexity(again, ref.prompt_tokens, one_thread).perplexity,
            perplexity(again, ref.prompt_tokens, three).perplexity);
}

TEST(Perplexity, RefusesWhatItCannotScore) {
  auto m = load_shared_model("stories260K.gguf");
  Session s(*m.model, 128);
  const std::vector<int32_t> tokens(100, 5);
  EXPECT_THROW(perplexity(s, tokens, windows_of(1)), InputError);
  EXPECT_THROW(perplexity(s, tokens, windows_of(101)), InputError);  // longer than the text
  EXPECT_THROW(perplexity(s, std::vector<int32_t>(200, 5), windows_of(129)), InputError);  // past the context
  EXPECT_NO_THROW(perplexity(s, tokens, windows_of(100)));
}

}  // namespace
}  // namespace greta::test
