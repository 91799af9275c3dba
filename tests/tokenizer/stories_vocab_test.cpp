// stories260K's SentencePiece vocabulary against llama.cpp's prompt tokens.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer_test_data.h"

namespace greta::tokenizer::test {
namespace {

TEST(StoriesVocab, PromptTokensMatchLlamaCpp) {
  const Tokenizer tok = gguf_tokenizer("models/stories260K.gguf");
  EXPECT_EQ(tok.type(), VocabType::SPM);
  EXPECT_EQ(tok.n_vocab(), 512);
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_TRUE(tok.add_bos());
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(greta::test::shared_path("reference/stories260K"))) {
    if (entry.path().extension() != ".json") continue;
    const auto ref = nlohmann::json::parse(read_file(entry.path().string()));
    const std::string prompt = ref["prompt"];
    ASSERT_TRUE(ref["add_bos"].get<bool>());
    const std::vector<TokenId> got = tok.encode(prompt, true, ref["parse_special"].get<bool>());
    EXPECT_EQ(ids_to_string(got), ids_to_string(ref["prompt_tokens"].get<std::vector<TokenId>>()))
        << entry.path().filename();
    // Without the BOS the text comes back exactly; after a BOS llama.cpp's detokenizer
    // keeps the prefix space (the BOS takes the leading-space strip).
    EXPECT_EQ(tok.decode(tok.encode(prompt, false, false)), prompt);
    if (!prompt.empty()) {
      EXPECT_EQ(tok.decode(got), " " + prompt);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

TEST(StoriesVocab, GreedyTextStreamsLikeLlamaCpp) {
  // The reference continuation was printed piece by piece after the prompt, so the
  // stream decoder (sequence_start = false) must reproduce it exactly.
  const Tokenizer tok = gguf_tokenizer("models/stories260K.gguf");
  const auto ref = nlohmann::json::parse(read_file(greta::test::shared_path("reference/stories260K/s1_short.json")));
  StreamDecoder stream(tok);
  std::string text;
  for (TokenId id : ref["greedy_tokens"].get<std::vector<TokenId>>()) text += stream.push(id);
  text += stream.flush();
  EXPECT_EQ(text, ref["greedy_text"].get<std::string>());
}

}  // namespace
}  // namespace greta::tokenizer::test
