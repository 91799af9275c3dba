// Tensor names, shapes and types: the Q4_K_M rule, overrides, tying, and the size of
// a Llama-3-8B Q4_K_M file computed without writing it.
#include "synth/tensor_plan.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>

#include "../test_support.h"
#include "greta/error.h"
#include "independent_gguf_reader.h"
#include "synth/synth.h"

using namespace greta;
using namespace greta::synth;

namespace {

TypeChoice choice(const std::string& type, bool tied = false) { return {WeightType::parse(type), {}, tied}; }

const PlannedTensor& find(const std::vector<PlannedTensor>& plan, const std::string& name) {
  for (const auto& t : plan)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

}  // namespace

TEST(TensorPlan, NamesShapesAndOrderFollowLlamaCpp) {
  const auto plan = plan_tensors(preset("tiny"), choice("f32"));
  ASSERT_EQ(plan.size(), 3u + 4u * 9u);
  EXPECT_EQ(plan[0].name, "token_embd.weight");
  EXPECT_EQ(plan[1].name, "output_norm.weight");
  EXPECT_EQ(plan[2].name, "output.weight");
  const char* per_layer[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                             "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
  for (int l = 0; l < 4; ++l)
    for (int i = 0; i < 9; ++i)
      EXPECT_EQ(plan[3 + 9 * l + i].name, "blk." + std::to_string(l) + "." + per_layer[i] + ".weight");

  using S = std::vector<int64_t>;
  EXPECT_EQ(find(plan, "token_embd.weight").shape, (S{256, 4096}));
  EXPECT_EQ(find(plan, "output.weight").shape, (S{256, 4096}));
  EXPECT_EQ(find(plan, "output_norm.weight").shape, (S{256}));
  EXPECT_EQ(find(plan, "blk.0.attn_q.weight").shape, (S{256, 256}));
  EXPECT_EQ(find(plan, "blk.0.attn_k.weight").shape, (S{256, 128}));
  EXPECT_EQ(find(plan, "blk.0.attn_v.weight").shape, (S{256, 128}));
  EXPECT_EQ(find(plan, "blk.0.attn_output.weight").shape, (S{256, 256}));
  EXPECT_EQ(find(plan, "blk.0.ffn_gate.weight").shape, (S{256, 768}));
  EXPECT_EQ(find(plan, "blk.0.ffn_up.weight").shape, (S{256, 768}));
  EXPECT_EQ(find(plan, "blk.3.ffn_down.weight").shape, (S{768, 256}));
  EXPECT_EQ(find(plan, "blk.3.ffn_norm.weight").shape, (S{256}));
}

TEST(TensorPlan, UseMoreBitsMatchesLlamaCppRule) {
  // n = 32: layers 0-3, 28-31, and 4 + 3k + 2 = 6, 9, ..., 27.
  std::set<int64_t> expected = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  for (int64_t i = 0; i < 32; ++i) EXPECT_EQ(q4_k_m_uses_more_bits(i, 32), expected.count(i) == 1) << i;
  // n = 4: n/8 = 0, so layers 2 ((i-0) % 3 == 2) and 3 (i >= 28/8 = 3).
  EXPECT_FALSE(q4_k_m_uses_more_bits(0, 4));
  EXPECT_FALSE(q4_k_m_uses_more_bits(1, 4));
  EXPECT_TRUE(q4_k_m_uses_more_bits(2, 4));
  EXPECT_TRUE(q4_k_m_uses_more_bits(3, 4));
}

TEST(TensorPlan, Q4KMixAssignsTypesLikeLlamaCpp) {
  const auto plan = plan_tensors(preset("llama3-8b"), choice("q4_k_m"));
  for (const auto& t : plan) {
    TensorType want = TensorType::Q4_K;
    if (is_norm(t.role)) want = TensorType::F32;
    if (t.role == TensorRole::Output) want = TensorType::Q6_K;
    if ((t.role == TensorRole::AttnV || t.role == TensorRole::FfnDown) && q4_k_m_uses_more_bits(t.layer, 32))
      want = TensorType::Q6_K;
    EXPECT_EQ(t.type, want) << t.name;
  }
  // Tied: no output tensor, and the embedding takes the output's Q6_K.
  const auto tied = plan_tensors(preset("tiny"), choice("q4_k_m", true));
  EXPECT_EQ(tied.size(), 2u + 4u * 9u);
  for (const auto& t : tied) EXPECT_NE(t.name, "output.weight");
  EXPECT_EQ(find(tied, "token_embd.weight").type, TensorType::Q6_K);
}

TEST(TensorPlan, MatchesTheSharedTinyQ4KMFile) {
  // The project's reference synthetic model was made with the same rule: every tensor
  // name, shape and type of our plan must match it (read with the independent parser).
  std::ifstream in(test::shared_path("models/synth-tiny-q4_k_m.gguf"), std::ios::binary);
  if (!in) GTEST_SKIP() << "shared model not available";
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto g = synth_test::parse_gguf(bytes);
  const auto plan = plan_tensors(preset("tiny"), choice("q4_k_m"));
  ASSERT_EQ(g.tensors.size(), plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(g.tensors[i].name, plan[i].name);
    EXPECT_EQ(g.tensors[i].type, static_cast<uint32_t>(plan[i].type)) << plan[i].name;
    ASSERT_EQ(g.tensors[i].dims.size(), plan[i].shape.size());
    for (size_t d = 0; d < plan[i].shape.size(); ++d)
      EXPECT_EQ(g.tensors[i].dims[d], static_cast<uint64_t>(plan[i].shape[d])) << plan[i].name;
  }
}

TEST(TensorPlan, OverridesWinButNormsStayF32) {
  TypeChoice c = choice("q4_k_m");
  c.overrides.insert(parse_type_override("attn_k=q5_k"));
  c.overrides.insert(parse_type_override("ffn_up=BF16"));
  const auto plan = plan_tensors(preset("tiny"), c);
  for (const auto& t : plan) {
    TensorType want = t.type;
    if (t.role == TensorRole::AttnK) want = TensorType::Q5_K;
    if (t.role == TensorRole::FfnUp) want = TensorType::BF16;
    if (is_norm(t.role)) want = TensorType::F32;
    EXPECT_EQ(t.type, want) << t.name;
  }
  EXPECT_EQ(find(plan, "blk.3.ffn_down.weight").type, TensorType::Q6_K);  // the mix still applies elsewhere
  EXPECT_THROW(parse_type_override("attn_k"), InputError);
  EXPECT_THROW(parse_type_override("attn_z=q5_k"), InputError);
  EXPECT_THROW(parse_type_override("attn_k=q3_k"), InputError);
  EXPECT_THROW(parse_type_override("attn_norm=f16"), InputError);
  EXPECT_THROW(parse_type_override("attn_k=q4_k_m"), InputError);
}

TEST(TensorPlan, WeightTypeNamesAndFileTypes) {
  const std::pair<const char*, uint32_t> known[] = {{"f32", 0},  {"f16", 1},  {"bf16", 32}, {"q8_0", 7},  {"q4_0", 2},
                                                    {"q4_k", 14}, {"q5_k", 16}, {"q6_k", 18}, {"q4_k_m", 15}};
  for (const auto& [name, ftype] : known) {
    const WeightType t = WeightType::parse(name);
    EXPECT_EQ(t.name(), name);
    EXPECT_EQ(t.file_type(), ftype) << name;
  }
  EXPECT_EQ(WeightType::parse("Q4_K_M").name(), "q4_k_m");
  EXPECT_THROW(WeightType::parse("q2_k"), InputError);
}

TEST(TensorPlan, RowLengthsMustFitTheBlockSize) {
  SynthShape s = preset("tiny");
  s.dim = 128;
  s.heads = 4;
  s.kv_heads = 2;
  EXPECT_NO_THROW(plan_tensors(s, choice("q8_0")));
  EXPECT_THROW(plan_tensors(s, choice("q4_k")), InputError);  // 128 is not a multiple of 256
}

// A real Llama-3-8B Q4_K_M conversion has 291 tensors, 8.03 B parameters and 4.58 GiB of
// weights (llama.cpp prints "4.58 GiB (4.89 BPW)", "8.03 B"). The exact figures below are
// worked out by hand from the architecture, independently of the planner:
//   params = 2·V·D + D + L·(2·D + 2·D² + 2·D·KV + 3·D·F)          = 8 030 261 248
//   bytes  = Q4_K(V·D) + Q6_K(V·D) + 4·D
//          + L·(8·D + 2·Q4_K(D²) + Q4_K(D·KV) + Q4_K(2·D·F))
//          + 16·(Q6_K(D·KV) + Q6_K(F·D)) + 16·(Q4_K(D·KV) + Q4_K(F·D))   = 4 912 898 048
// with V = 128256, D = 4096, KV = 1024, F = 14336, L = 32, 16 layers taking Q6_K for
// attn_v and ffn_down, Q4_K(n) = n/256·144 and Q6_K(n) = n/256·210.
TEST(TensorPlan, Llama3_8B_Q4KM_HasTheRealFileSize) {
  constexpr int64_t V = 128256, D = 4096, KV = 1024, F = 14336, L = 32;
  auto q4 = [](int64_t n) { return n / 256 * 144; };
  auto q6 = [](int64_t n) { return n / 256 * 210; };
  const int64_t params = 2 * V * D + D + L * (2 * D + 2 * D * D + 2 * D * KV + 3 * D * F);
  const int64_t bytes = q4(V * D) + q6(V * D) + 4 * D + L * (8 * D + 2 * q4(D * D) + q4(D * KV) + q4(2 * D * F)) +
                        16 * (q6(D * KV) + q6(F * D)) + 16 * (q4(D * KV) + q4(F * D));
  ASSERT_EQ(params, 8030261248);
  ASSERT_EQ(bytes, 4912898048);

  SynthOptions o;
  o.shape = preset("llama3-8b");
  o.type = WeightType::parse("q4_k_m");
  const SynthSummary s = summarize(plan_tensors(o));
  EXPECT_EQ(s.n_tensors, 291);
  EXPECT_EQ(s.n_params, params);
  EXPECT_EQ(s.weight_bytes, static_cast<uint64_t>(bytes));
  const double gib = static_cast<double>(s.weight_bytes) / (1024.0 * 1024.0 * 1024.0);
  EXPECT_NEAR(gib, 4.58, 0.005);
  EXPECT_NEAR(static_cast<double>(s.n_params) / 1e9, 8.03, 0.005);
}
