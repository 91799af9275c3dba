// Decode (matrix-vector route) against prefill (matrix-matrix route) on the same rows.
#include <gtest/gtest.h>

#include <cmath>

#include "model_fixture.h"

namespace greta::test {
namespace {

double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    n += double(a[i]) * a[i];
  }
  return std::sqrt(d / n);
}

struct Case {
  std::string model, reference;
};

class PrefillDecode : public ::testing::TestWithParam<Case> {};

TEST_P(PrefillDecode, DecodeOfLastTokenEqualsPrefillLastRow) {
  auto m = load_shared_model(GetParam().model);
  const auto ref = Reference::load(shared_path(GetParam().reference));
  const auto& toks = ref.prompt_tokens;
  ASSERT_GE(toks.size(), 2u);
  Session a(*m.model, 0), b(*m.model, 0);
  const auto prefill_last = a.prefill(toks);
  b.prefill(std::span(toks).first(toks.size() - 1));
  const auto decode0 = b.decode(toks.back());
  EXPECT_LE(relative_l2(prefill_last, decode0), 1e-4);
  // Both routes use the canonical reduction order, so on the CPU they agree bit for bit.
  EXPECT_EQ(prefill_last, decode0);
}

TEST_P(PrefillDecode, TokenByTokenEqualsOnePrefill) {
  auto m = load_shared_model(GetParam().model);
  const auto ref = Reference::load(shared_path(GetParam().reference));
  const auto& toks = ref.prompt_tokens;
  Session a(*m.model, 0), b(*m.model, 0);
  const auto all = a.prefill(toks, LogitsRows::All);
  const int64_t V = m.model->config().n_vocab;
  for (size_t i = 0; i < toks.size(); ++i) {
    const auto row = b.decode(toks[i]);
    const std::vector<float> expect(all.begin() + i * V, all.begin() + (i + 1) * V);
    EXPECT_LE(relative_l2(expect, row), 1e-4) << "position " << i;
  }
}

// decode_view: each step's row in memory the session keeps (the same address every step),
// equal to the prefill's row for that position; decode() hands out a copy of it.
TEST_P(PrefillDecode, DecodeViewHoldsEachStepsRowInTheSession) {
  auto m = load_shared_model(GetParam().model);
  const auto ref = Reference::load(shared_path(GetParam().reference));
  const auto& toks = ref.prompt_tokens;
  Session a(*m.model, 0), b(*m.model, 0), c(*m.model, 0);
  const auto all = a.prefill(toks, LogitsRows::All);
  const int64_t V = m.model->config().n_vocab;
  const float* first = nullptr;
  for (size_t i = 0; i < toks.size(); ++i) {
    const std::span<const float> row = b.decode_view(toks[i]);
    ASSERT_EQ(row.size(), static_cast<size_t>(V));
    if (i == 0) first = row.data();
    EXPECT_EQ(row.data(), first) << "position " << i;
    const std::vector<float> got(row.begin(), row.end()), expect(all.begin() + i * V, all.begin() + (i + 1) * V);
    EXPECT_EQ(got, expect) << "position " << i;  // canonical reduction order on the CPU: same bits
    EXPECT_EQ(c.decode(toks[i]), got) << "position " << i;
  }
}

// Chunked prefill (bounded memory for long prompts): chunks of 1, 7 and 512 tokens give
// the same logits bit for bit, since every row's products and attention are independent
// of the rows beside it.
TEST_P(PrefillDecode, ChunkedPrefillEqualsOneChunk) {
  auto m = load_shared_model(GetParam().model);
  const auto ref = Reference::load(shared_path(GetParam().reference));
  Session a(*m.model, 0);
  const auto whole = a.prefill(ref.prompt_tokens, LogitsRows::All);
  for (int64_t chunk : {1, 7}) {
    m.model->set_chunk_rows(chunk);
    Session b(*m.model, 0);
    EXPECT_EQ(b.prefill(ref.prompt_tokens, LogitsRows::All), whole) << "chunks of " << chunk;
  }
  EXPECT_THROW(m.model->set_chunk_rows(0), InputError);
}

TEST_P(PrefillDecode, ForcedRoutesGiveTheSameLogits) {
  auto m = load_shared_model(GetParam().model);
  const auto ref = Reference::load(shared_path(GetParam().reference));
  Session a(*m.model, 0), b(*m.model, 0);
  b.hooks().routes.prefill = Route::Gemv;
  EXPECT_EQ(a.prefill(ref.prompt_tokens, LogitsRows::All), b.prefill(ref.prompt_tokens, LogitsRows::All));
}

INSTANTIATE_TEST_SUITE_P(Models, PrefillDecode,
                         ::testing::Values(Case{"stories260K.gguf", "reference/stories260K/s2_story.json"},
                                           Case{"synth-tiny-q4_k_m.gguf", "reference/synth/synth-tiny-q4_k_m.ids48.json"},
                                           Case{"synth-tiny-mix.gguf", "reference/synth/synth-tiny-mix.ids48.json"}),
                         [](const auto& info) {
                           std::string n = info.param.model.substr(0, info.param.model.find('.'));
                           for (auto& ch : n) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace greta::test
