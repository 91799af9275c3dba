// --vocab: a real vocabulary embedded in a synthetic model replaces its vocabulary size,
// and the tokenizer built from the file encodes text for the model to run.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../test_support.h"
#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf_file.h"
#include "greta/error.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "synth/builtin_model.h"
#include "synth/synth.h"
#include "tokenizer/tokenizer.h"

using namespace greta;
using namespace greta::synth;

namespace {

SynthOptions tiny_with_vocab(const std::string& vocab_rel) {
  SynthOptions o;
  o.shape = preset("tiny");
  o.shape.layers = 1;
  o.type = WeightType::parse("q8_0");
  o.vocab_path = test::shared_path(vocab_rel);
  return o;
}

void check_llama3_vocab_model(const SynthOptions& o) {
  if (!std::filesystem::exists(o.vocab_path)) GTEST_SKIP() << "shared tokenizer not available";
  const gguf::GgufFile f = gguf::GgufFile::from_bytes(build_writer(o).write_bytes(), "vocab.gguf");
  EXPECT_EQ(f.get_uint("llama.vocab_size"), 128256u);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->shape[1], 128256);
  EXPECT_EQ(f.find_tensor("output.weight")->shape[1], 128256);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");

  const tokenizer::Tokenizer tok(tokenizer::Vocab::from_gguf(f));
  const auto ids = tok.encode("Hello world", false, false);
  EXPECT_EQ(ids, (std::vector<tokenizer::TokenId>{9906, 1917}));  // Llama 3's ids

  cpu::CpuBackend backend(2);
  LlamaModel model(gguf::GgufFile::from_bytes(build_writer(o).write_bytes(), "vocab.gguf"), backend);
  Session s(model, 16);
  const auto logits = s.prefill(ids);
  ASSERT_EQ(logits.size(), 128256u);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
}

}  // namespace

TEST(VocabEmbedding, TokenizerJsonReplacesTheVocabularySize) {
  check_llama3_vocab_model(tiny_with_vocab("tokenizers/llama3/tokenizer.json"));
}

TEST(VocabEmbedding, TiktokenModelReplacesTheVocabularySize) {
  check_llama3_vocab_model(tiny_with_vocab("tokenizers/llama3/tokenizer.model"));
}

TEST(VocabEmbedding, RefusesSentencePieceProtobufAndMissingFiles) {
  SynthOptions o = tiny_with_vocab("tokenizers/llama2/tokenizer.model");
  if (std::filesystem::exists(o.vocab_path)) {
    EXPECT_THROW(build_writer(o), InputError);
  }
  o.vocab_path = "no/such/tokenizer.json";
  EXPECT_THROW(build_writer(o), InputError);
}

TEST(VocabEmbedding, BuiltinVocabularyRoundTripsText) {
  const gguf::GgufFile f = gguf::GgufFile::from_bytes(builtin_model_bytes(), "builtin");
  const tokenizer::Tokenizer tok(tokenizer::Vocab::from_gguf(f));
  const std::string text = "Hello, world! Ünïcödé too.";
  const auto ids = tok.encode(text, true, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 1);  // BOS
  for (auto id : ids) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 260);
  }
  EXPECT_EQ(tok.decode(std::span(ids).subspan(1)), text);
}
