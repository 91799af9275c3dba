// Special tokens come from text only when parse_special asks for them.
#include <gtest/gtest.h>

#include <algorithm>

#include "tokenizer_test_data.h"

namespace greta::tokenizer::test {
namespace {

bool contains(const std::vector<TokenId>& ids, TokenId id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

TEST(SpecialTokens, Llama3ControlTokensOnlyWhenParsed) {
  const Tokenizer& tok = llama3_hf();
  const std::string text = "<|begin_of_text|>Hi<|eot_id|>";
  const std::vector<TokenId> parsed = tok.encode(text, false, true);
  EXPECT_EQ(parsed, (std::vector<TokenId>{128000, 13347, 128009}));
  const std::vector<TokenId> plain = tok.encode(text, false, false);
  for (TokenId id : plain) EXPECT_LT(id, 128000) << "plain text produced a special token";
  EXPECT_EQ(tok.decode(plain), text);
  // Rendering: control tokens are silent unless asked for.
  EXPECT_EQ(tok.decode(parsed), "Hi");
  EXPECT_EQ(tok.decode(parsed, {.render_special = true}), text);
  EXPECT_EQ(tok.token_to_piece(128009), "");
  EXPECT_EQ(tok.token_to_piece(128009, true), "<|eot_id|>");
}

TEST(SpecialTokens, LongestTokenWinsAndTextAroundIsKept) {
  const Tokenizer& tok = llama3_hf();
  const std::string text = "a<|start_header_id|><|end_header_id|> b<|eot_id";
  const std::vector<TokenId> ids = tok.encode(text, false, true);
  EXPECT_TRUE(contains(ids, 128006));
  EXPECT_TRUE(contains(ids, 128007));
  EXPECT_FALSE(contains(ids, 128009));  // unterminated: plain text
  EXPECT_EQ(tok.decode(ids, {.render_special = true}), text);
}

TEST(SpecialTokens, SpmBosAndEosOnlyWhenParsed) {
  const Tokenizer tok = gguf_tokenizer("tokenizers/vectors/ggml-vocab-llama-spm.gguf");
  const std::vector<TokenId> parsed = tok.encode("<s>Hello</s>", false, true);
  EXPECT_EQ(parsed.front(), 1);
  EXPECT_EQ(parsed.back(), 2);
  // After a special token the SentencePiece space prefix is added again (llama.cpp).
  EXPECT_EQ(parsed, (std::vector<TokenId>{1, 15043, 2}));
  const std::vector<TokenId> plain = tok.encode("<s>Hello</s>", false, false);
  EXPECT_FALSE(contains(plain, 1));
  EXPECT_FALSE(contains(plain, 2));
  EXPECT_EQ(tok.decode(plain), "<s>Hello</s>");
  EXPECT_EQ(tok.encode("Hello", true, false), (std::vector<TokenId>{1, 15043}));
  EXPECT_TRUE(tok.is_end_of_generation(2));
  EXPECT_FALSE(tok.is_end_of_generation(1));
}

TEST(SpecialTokens, Phi3UserDefinedTokensAlwaysSplitAndStripRight) {
  // In Phi-3's vocabulary "</s>" is a user-defined token: llama.cpp splits it out even
  // without parse_special, and (by model name) strips the whitespace after it and after
  // the chat markers, which are control tokens.
  const Tokenizer tok = gguf_tokenizer("tokenizers/vectors/ggml-vocab-phi-3.gguf");
  const TokenId user = tok.find_token("<|user|>");
  const TokenId end = tok.find_token("<|end|>");
  ASSERT_EQ(user, 32010);
  ASSERT_EQ(end, 32007);
  const std::vector<TokenId> plain = tok.encode("Hi</s> there<|end|>", false, false);
  EXPECT_TRUE(contains(plain, 2));
  EXPECT_FALSE(contains(plain, end));
  // The space after </s> is stripped and the SentencePiece prefix comes back after it.
  EXPECT_EQ(tok.decode(plain), "Hi</s> there<|end|>");
  EXPECT_EQ(plain, tok.encode("Hi</s>there<|end|>", false, false));

  const std::vector<TokenId> parsed = tok.encode("<|user|>\nHi<|end|>", false, true);
  EXPECT_EQ(parsed.front(), user);
  EXPECT_EQ(parsed.back(), end);
  EXPECT_EQ(tok.decode(parsed, {.render_special = true}), "<|user|> Hi<|end|>");  // "\n" stripped, prefix added
  EXPECT_TRUE(tok.is_end_of_generation(end));
  EXPECT_TRUE(tok.is_end_of_generation(32000));
  EXPECT_EQ(tok.eot(), end);
}

}  // namespace
}  // namespace greta::tokenizer::test
