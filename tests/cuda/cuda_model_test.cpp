// Whole models on the CUDA backend against llama.cpp's references, the float64 forward,
// and the CUDA backend's own two routes, in both precisions: exact (the f32 contract) and
// fast (f16 tensor-core prefill, f16 KV cache).
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <tuple>

#include "../greedy_support.h"
#include "cuda_fixture.h"

namespace greta::test {
namespace {

using PromptAndPrecision = std::tuple<std::string, PrecisionClass>;
class CudaStories260K : public ::testing::TestWithParam<PromptAndPrecision> {};

// stories260K is all f32. Exact: within 1e-3 of both llama.cpp (which agrees with the
// float64 forward to 7.3e-5) and the float64 forward. Fast: relative L2 within the class's
// bound of the float64 forward, and llama.cpp's top-1 wherever its top-1/top-2 gap is ≥ 0.1.
TEST_P(CudaStories260K, LogitsMatchLlamaCppAndFloat64) {
  GRETA_REQUIRE_CUDA();
  const auto& [prompt, pc] = GetParam();
  BackendModel m("cuda", "stories260K.gguf", pc.name);
  const auto ref = Reference::load(shared_path("reference/stories260K/" + prompt + ".json"));
  Session s(*m.model, 0);
  const auto logits = s.prefill(ref.prompt_tokens, LogitsRows::All);
  const auto vs_llama = compare_logits(ref.logits, logits, ref.n_vocab);
  const auto vs_exact = compare_logits(ref.exact_logits, logits, ref.n_vocab);
  const double rel = relative_l2(ref.exact_logits, logits);
  if (pc.name == "exact") {
    EXPECT_LE(vs_llama.max_abs_diff, 1e-3);
    EXPECT_LE(vs_exact.max_abs_diff, 1e-3);
    EXPECT_EQ(vs_llama.top1_agreement, 1.0);
  } else {
    EXPECT_LE(rel, pc.rel_l2);
    for (size_t t = 0; t < vs_llama.per_position.size(); ++t) {
      if (vs_llama.per_position[t].ref_gap >= 0.1) {
        EXPECT_EQ(vs_llama.per_position[t].ref_top1, vs_llama.per_position[t].our_top1) << "position " << t;
      }
    }
  }
  std::printf("stories260K %s %s: max |dlogit| vs llama.cpp %.3g, vs float64 %.3g, rel L2 vs float64 %.3g\n",
              prompt.c_str(), pc.name.c_str(), vs_llama.max_abs_diff, vs_exact.max_abs_diff, rel);
  RecordProperty("max_abs_diff_llama_cpp", std::to_string(vs_llama.max_abs_diff));
  RecordProperty("max_abs_diff_float64", std::to_string(vs_exact.max_abs_diff));
}

// Follows llama.cpp's greedy tokens; in the fast class a fork is allowed only at a near-tie
// (< 0.1), as for the quantized models below.
TEST_P(CudaStories260K, GreedyContinuationMatchesLlamaCpp) {
  GRETA_REQUIRE_CUDA();
  const auto& [prompt, pc] = GetParam();
  BackendModel m("cuda", "stories260K.gguf", pc.name);
  const auto ref = Reference::load(shared_path("reference/stories260K/" + prompt + ".json"));
  if (pc.name == "exact") {
    EXPECT_EQ(greedy_continuation(*m.model, ref.prompt_tokens, static_cast<int>(ref.greedy_tokens.size())),
              ref.greedy_tokens);
    return;
  }
  expect_greedy_follows_until_near_tie(*m.model, ref.prompt_tokens, ref.greedy_tokens);
}

INSTANTIATE_TEST_SUITE_P(Prompts, CudaStories260K,
                         ::testing::Combine(::testing::Values("s0_bos_only", "s1_short", "s2_story", "s3_long"),
                                            ::testing::Values(kExact, kFast)),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param).name; });

class CudaSynth : public ::testing::TestWithParam<PromptAndPrecision> {};

// Quantized models: llama.cpp quantizes activations to 8 bits, so compare by KL (≤ 1e-3)
// and top-1 where its top-1/top-2 gap is at least 0.1; the float64 forward over the same
// dequantized weights is the sharp oracle (exact: within 1e-3; fast: the class's relative L2).
TEST_P(CudaSynth, LogitsMatchLlamaCppAndFloat64) {
  GRETA_REQUIRE_CUDA();
  const auto& [model, pc] = GetParam();
  BackendModel m("cuda", model + ".gguf", pc.name);
  const auto ref = Reference::load(shared_path("reference/synth/" + model + ".ids48.json"));
  Session s(*m.model, 0);
  const auto logits = s.prefill(ref.prompt_tokens, LogitsRows::All);
  const auto c = compare_logits(ref.logits, logits, ref.n_vocab);
  for (size_t t = 0; t < c.per_position.size(); ++t) {
    const auto& p = c.per_position[t];
    EXPECT_LE(p.kl, 1e-3) << "position " << t;
    if (p.ref_gap >= 0.1) {
      EXPECT_EQ(p.ref_top1, p.our_top1) << "position " << t;
    }
  }
  const auto exact = compare_logits(ref.exact_logits, logits, ref.n_vocab);
  const double rel = relative_l2(ref.exact_logits, logits);
  if (pc.name == "exact") {
    EXPECT_LE(exact.max_abs_diff, 1e-3);
    EXPECT_EQ(exact.top1_agreement, 1.0);
  } else {
    EXPECT_LE(rel, pc.rel_l2);
  }
  std::printf("%s %s: max KL vs llama.cpp %.3g, max |dlogit| vs float64 %.3g, rel L2 vs float64 %.3g\n", model.c_str(),
              pc.name.c_str(), c.max_kl, exact.max_abs_diff, rel);
  RecordProperty("max_kl_vs_llama_cpp", std::to_string(c.max_kl));
  RecordProperty("max_abs_diff_vs_float64", std::to_string(exact.max_abs_diff));
}

// As on the CPU: follow llama.cpp's greedy tokens until a fork that is a near-tie (< 0.1).
TEST_P(CudaSynth, GreedyContinuationFollowsLlamaCppUntilANearTie) {
  GRETA_REQUIRE_CUDA();
  const auto& [model, pc] = GetParam();
  BackendModel m("cuda", model + ".gguf", pc.name);
  const auto ref = Reference::load(shared_path("reference/synth/" + model + ".ids48.json"));
  expect_greedy_follows_until_near_tie(*m.model, ref.prompt_tokens, ref.greedy_tokens);
}

INSTANTIATE_TEST_SUITE_P(Models, CudaSynth,
                         ::testing::Combine(::testing::Values("synth-tiny-q4_k_m", "synth-tiny-mix"),
                                            ::testing::Values(kExact, kFast)),
                         [](const auto& info) {
                           return precision_test_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
                         });

struct Case {
  std::string model, reference;
};
using CaseAndPrecision = std::tuple<Case, PrecisionClass>;

class CudaPrefillDecode : public ::testing::TestWithParam<CaseAndPrecision> {};

// The GEMV and GEMM routes sum in different orders (and, in the fast class, the GEMM
// rounds its operands to f16), so decode0 and prefill_last are not bit-equal on the GPU;
// after a whole forward they stay within the class's relative L2 of each other.
TEST_P(CudaPrefillDecode, DecodeOfLastTokenMatchesPrefillLastRow) {
  GRETA_REQUIRE_CUDA();
  const auto& [c, pc] = GetParam();
  BackendModel m("cuda", c.model, pc.name);
  const auto ref = Reference::load(shared_path(c.reference));
  const auto& toks = ref.prompt_tokens;
  ASSERT_GE(toks.size(), 2u);
  Session a(*m.model, 0), b(*m.model, 0);
  const auto prefill_last = a.prefill(toks);
  b.prefill(std::span(toks).first(toks.size() - 1));
  const auto decode0 = b.decode(toks.back());
  const double rel = relative_l2(prefill_last, decode0);
  EXPECT_LE(rel, pc.rel_l2);
  std::printf("%s %s: decode0 vs prefill_last relative L2 %.3g\n", c.model.c_str(), pc.name.c_str(), rel);
}

TEST_P(CudaPrefillDecode, TokenByTokenMatchesOnePrefill) {
  GRETA_REQUIRE_CUDA();
  const auto& [c, pc] = GetParam();
  BackendModel m("cuda", c.model, pc.name);
  const auto ref = Reference::load(shared_path(c.reference));
  const auto& toks = ref.prompt_tokens;
  Session a(*m.model, 0), b(*m.model, 0);
  const auto all = a.prefill(toks, LogitsRows::All);
  const int64_t V = m.model->config().n_vocab;
  for (size_t i = 0; i < toks.size(); ++i) {
    const auto row = b.decode(toks[i]);
    const std::vector<float> expect(all.begin() + i * V, all.begin() + (i + 1) * V);
    EXPECT_LE(relative_l2(expect, row), pc.rel_l2) << "position " << i;
  }
}

// A prompt prefilled in chunks of 7 tokens gives the logits of one chunk: rows are
// independent in the matrix products, so only the attention's key tiling can differ.
TEST_P(CudaPrefillDecode, ChunkedPrefillMatchesOneChunk) {
  GRETA_REQUIRE_CUDA();
  const auto& [c, pc] = GetParam();
  BackendModel m("cuda", c.model, pc.name), chunked("cuda", c.model, pc.name);
  chunked.model->set_chunk_rows(7);
  const auto ref = Reference::load(shared_path(c.reference));
  Session a(*m.model, 0), b(*chunked.model, 0);
  const auto whole = a.prefill(ref.prompt_tokens, LogitsRows::All);
  const auto pieces = b.prefill(ref.prompt_tokens, LogitsRows::All);
  const double rel = relative_l2(whole, pieces);
  EXPECT_LE(rel, pc.rel_l2);
  std::printf("%s %s: chunks of 7 vs one chunk relative L2 %.3g\n", c.model.c_str(), pc.name.c_str(), rel);
}

// The CUDA logits against the CPU backend's on the same prompt.
TEST_P(CudaPrefillDecode, LogitsMatchTheCpuBackend) {
  GRETA_REQUIRE_CUDA();
  const auto& [c, pc] = GetParam();
  BackendModel g("cuda", c.model, pc.name), cpu("cpu", c.model);
  const auto ref = Reference::load(shared_path(c.reference));
  Session sg(*g.model, 0), sc(*cpu.model, 0);
  const auto lg = sg.prefill(ref.prompt_tokens, LogitsRows::All), lc = sc.prefill(ref.prompt_tokens, LogitsRows::All);
  EXPECT_LE(relative_l2(lc, lg), pc.rel_l2);
  Session dg(*g.model, 0), dc(*cpu.model, 0);
  EXPECT_LE(relative_l2(dc.decode(ref.prompt_tokens[0]), dg.decode(ref.prompt_tokens[0])), pc.rel_l2);
}

// Route forcing: prefill through the decode kernels gives the same logits within the class.
TEST_P(CudaPrefillDecode, ForcedRoutesAgree) {
  GRETA_REQUIRE_CUDA();
  const auto& [c, pc] = GetParam();
  BackendModel m("cuda", c.model, pc.name);
  const auto ref = Reference::load(shared_path(c.reference));
  Session a(*m.model, 0), b(*m.model, 0);
  b.hooks().routes.prefill = Route::Gemv;
  EXPECT_LE(relative_l2(a.prefill(ref.prompt_tokens, LogitsRows::All), b.prefill(ref.prompt_tokens, LogitsRows::All)),
            pc.rel_l2);
}

INSTANTIATE_TEST_SUITE_P(Models, CudaPrefillDecode,
                         ::testing::Combine(::testing::Values(Case{"stories260K.gguf", "reference/stories260K/s3_long.json"},
                                                              Case{"synth-tiny-q4_k_m.gguf",
                                                                   "reference/synth/synth-tiny-q4_k_m.ids48.json"},
                                                              Case{"synth-tiny-mix.gguf",
                                                                   "reference/synth/synth-tiny-mix.ids48.json"}),
                                            ::testing::Values(kExact, kFast)),
                         [](const auto& info) {
                           return precision_test_name(std::get<0>(info.param).model) + "_" + std::get<1>(info.param).name;
                         });

}  // namespace
}  // namespace greta::test
