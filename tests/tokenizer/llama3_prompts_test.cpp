// The audit prompts: Llama 3 ids from an independent Hugging Face-compatible tokenizer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tokenizer_test_data.h"

namespace greta::tokenizer::test {
namespace {

void expect_prompts(const Tokenizer& tok) {
  const auto expected = nlohmann::json::parse(read_file(greta::test::shared_path("prompts/llama3_tokens.json")));
  int checked = 0;
  for (const auto& [name, ids] : expected["tokens"].items()) {
    const std::string text = read_file(greta::test::shared_path("prompts/" + name + ".txt"));
    ASSERT_FALSE(text.empty()) << name;
    const std::vector<TokenId> got = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
    EXPECT_EQ(ids_to_string(got), ids_to_string(ids.get<std::vector<TokenId>>())) << name;
    EXPECT_EQ(tok.decode(got, {.render_special = true}), text) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(Llama3Prompts, FromTokenizerJson) { expect_prompts(llama3_hf()); }
TEST(Llama3Prompts, FromTiktoken) { expect_prompts(llama3_tiktoken()); }

TEST(Llama3Vocab, BothBuildersAgree) {
  const Vocab& hf = llama3_hf_vocab();
  const Vocab& tt = llama3_tiktoken_vocab();
  ASSERT_EQ(hf.tokens.size(), 128256u);
  EXPECT_EQ(hf.tokens, tt.tokens);
  EXPECT_EQ(hf.token_types, tt.token_types);
  EXPECT_EQ(hf.bos_id, 128000);
  EXPECT_EQ(tt.bos_id, 128000);
  EXPECT_EQ(hf.eos_id, 128001);
  EXPECT_EQ(hf.eot_id, 128009);
  EXPECT_EQ(tt.eot_id, 128009);
  EXPECT_TRUE(hf.add_bos);
  EXPECT_EQ(hf.pre, "llama-bpe");
  EXPECT_EQ(tt.pre, "llama-bpe");
  EXPECT_EQ(hf.merges.size(), 280147u);
  // One merge per multi-byte token (the BPE split of each token).
  EXPECT_GT(tt.merges.size(), 127000u);
  EXPECT_LE(tt.merges.size(), 128000u - 256u);
  EXPECT_EQ(tt.chat_template, hf.chat_template);
}

TEST(Llama3Vocab, EndOfGeneration) {
  const Tokenizer& tok = llama3_hf();
  EXPECT_EQ(tok.type(), VocabType::BPE);
  EXPECT_EQ(tok.n_vocab(), 128256);
  EXPECT_EQ(tok.bos(), 128000);
  EXPECT_EQ(tok.eos(), 128001);
  EXPECT_EQ(tok.eot(), 128009);
  EXPECT_TRUE(tok.is_end_of_generation(128009));
  EXPECT_TRUE(tok.is_end_of_generation(128001));
  EXPECT_FALSE(tok.is_end_of_generation(128000));
  EXPECT_FALSE(tok.is_end_of_generation(13347));
}

TEST(Llama3Encode, AddsBosWhenAsked) {
  const Tokenizer& tok = llama3_hf();
  EXPECT_EQ(tok.encode("Hi", true, false), (std::vector<TokenId>{128000, 13347}));
  EXPECT_EQ(tok.encode("Hi", false, false), (std::vector<TokenId>{13347}));
  EXPECT_EQ(tok.encode("", true, false), (std::vector<TokenId>{128000}));
  EXPECT_TRUE(tok.encode("", false, false).empty());
}

TEST(Llama3Encode, InvalidUtf8RoundTripsByteForByte) {
  const Tokenizer& tok = llama3_hf();
  const std::string text = "ok \xff\xfe bad \xe2\x82 cut \xc3\xa9t\xc3";
  const std::vector<TokenId> ids = tok.encode(text, false, false);
  EXPECT_EQ(tok.decode(ids), text);
}

TEST(Llama3Encode, LongRunsStayLinear) {
  // Pathological words (one 200 kB run of letters, one of spaces) must not take
  // quadratic time; this finishes in milliseconds.
  const Tokenizer& tok = llama3_hf();
  const std::string letters(200000, 'a');
  EXPECT_EQ(tok.decode(tok.encode(letters, false, false)), letters);
  const std::string spaces(200000, ' ');
  EXPECT_EQ(tok.decode(tok.encode(spaces + "x", false, false)), spaces + "x");
}

}  // namespace
}  // namespace greta::tokenizer::test

namespace greta::tokenizer::test {
namespace {

TEST(Llama3Encode, ConcurrentEncodesAgree) {
  // encode() is const and shares its word cache between threads.
  const Tokenizer& tok = llama3_hf();
  const std::string text = read_file(greta::test::shared_path("prompts/p6_long.txt"));
  const std::vector<TokenId> expected = tok.encode(text, false, true);
  std::vector<std::vector<TokenId>> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) {
    threads.emplace_back([&tok, &text, &r] {
      for (int i = 0; i < 20; ++i) r = tok.encode(text + std::to_string(i), false, true);
      r = tok.encode(text, false, true);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

}  // namespace
}  // namespace greta::tokenizer::test
