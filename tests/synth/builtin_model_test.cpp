// The built-in model: a valid GGUF with a byte-level SentencePiece vocabulary.
#include "synth/builtin_model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "independent_gguf_reader.h"

using namespace greta::synth;

TEST(BuiltinModel, IsStableAndWellFormed) {
  const std::vector<uint8_t> bytes = builtin_model_bytes();
  EXPECT_EQ(bytes, builtin_model_bytes());
  EXPECT_LT(bytes.size(), 8u << 20);
  const auto g = synth_test::parse_gguf(bytes);
  EXPECT_EQ(synth_test::s(g, "general.name"), "greta-builtin (synthetic)");
  EXPECT_EQ(synth_test::s(g, "general.architecture"), "llama");
  EXPECT_EQ(synth_test::u(g, "llama.embedding_length"), 128u);
  EXPECT_EQ(synth_test::u(g, "llama.block_count"), 4u);
  EXPECT_EQ(synth_test::u(g, "llama.attention.head_count"), 4u);
  EXPECT_EQ(synth_test::u(g, "llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(synth_test::u(g, "llama.feed_forward_length"), 384u);
  EXPECT_EQ(synth_test::u(g, "llama.context_length"), 512u);
  EXPECT_EQ(g.tensors.size(), 3u + 4u * 9u);
  for (const auto& t : g.tensors) EXPECT_EQ(t.type, 0u) << t.name;  // F32 throughout
}

TEST(BuiltinModel, HasByteLevelSpmVocabulary) {
  const auto g = synth_test::parse_gguf(builtin_model_bytes());
  EXPECT_EQ(synth_test::s(g, "tokenizer.ggml.model"), "llama");
  const auto& tokens = g.kv.at("tokenizer.ggml.tokens");
  const auto& types = g.kv.at("tokenizer.ggml.token_type");
  const auto& scores = g.kv.at("tokenizer.ggml.scores");
  EXPECT_EQ(tokens.array_type, 8u);
  EXPECT_EQ(types.array_type, 5u);   // i32
  EXPECT_EQ(scores.array_type, 6u);  // f32
  ASSERT_EQ(tokens.items.size(), 260u);
  ASSERT_EQ(types.items.size(), 260u);
  ASSERT_EQ(scores.items.size(), 260u);
  auto tok = [&](size_t i) { return std::get<std::string>(tokens.items[i].scalar); };
  auto type = [&](size_t i) { return std::get<int64_t>(types.items[i].scalar); };
  EXPECT_EQ(tok(0), "<unk>");
  EXPECT_EQ(tok(1), "<s>");
  EXPECT_EQ(tok(2), "</s>");
  EXPECT_EQ(type(0), 2);
  EXPECT_EQ(type(1), 3);
  EXPECT_EQ(type(2), 3);
  EXPECT_EQ(tok(3), "<0x00>");
  EXPECT_EQ(tok(3 + 0x41), "<0x41>");
  EXPECT_EQ(tok(3 + 0xFF), "<0xFF>");
  for (size_t i = 3; i < 259; ++i) EXPECT_EQ(type(i), 6) << i;
  EXPECT_EQ(tok(259), "\xE2\x96\x81");
  EXPECT_EQ(type(259), 1);
  for (const auto& sc : scores.items) EXPECT_EQ(std::get<double>(sc.scalar), 0.0);
  EXPECT_EQ(synth_test::u(g, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(synth_test::u(g, "tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(synth_test::u(g, "tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_TRUE(std::get<bool>(g.kv.at("tokenizer.ggml.add_bos_token").scalar));
  EXPECT_EQ(synth_test::u(g, "llama.vocab_size"), 260u);
  for (const auto& t : g.tensors) {
    if (t.name == "token_embd.weight" || t.name == "output.weight") {
      EXPECT_EQ(t.dims[1], 260u);
    }
  }
}
