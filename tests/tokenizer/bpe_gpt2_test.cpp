// Byte-level BPE with the GPT-2 pre-tokenizer, on a vocabulary small enough to reason about.
#include <gtest/gtest.h>

#include "greta/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_bytes.h"
#include "tokenizer_test_data.h"

namespace greta::tokenizer::test {
namespace {

std::vector<std::string> words(const std::string& pre, std::string_view text) {
  std::vector<std::string_view> views;
  PreTokenizer(pre).split(text, views);
  return {views.begin(), views.end()};
}

TEST(PreTokenizer, Gpt2Regex) {
  EXPECT_EQ(words("default", "Hello world's  123abc!!"),
            (std::vector<std::string>{"Hello", " world", "'s", " ", " 123", "abc", "!!"}));
  EXPECT_EQ(words("gpt-2", "a\tb  "), (std::vector<std::string>{"a", "\t", "b", "  "}));
}

TEST(PreTokenizer, Llama3Regex) {
  EXPECT_EQ(words("llama-bpe", "Hello world'S  12345abc!!\n\n x"),
            (std::vector<std::string>{"Hello", " world", "'S", " ", " ", "123", "45", "abc", "!!\n\n", " x"}));
  EXPECT_EQ(words("llama-bpe", "\xC3\xA9t\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD"),
            (std::vector<std::string>{"\xC3\xA9t\xC3\xA9", " \xE4\xBD\xA0\xE5\xA5\xBD"}));
  // Invalid UTF-8 bytes become words of their own; the rest is split as usual.
  EXPECT_EQ(words("llama-bpe", "ab\xFF" "cd"), (std::vector<std::string>{"ab", "\xFF", "cd"}));
}

TEST(PreTokenizer, UnknownNameIsAnError) { EXPECT_THROW(PreTokenizer("qwen2"), InputError); }

Vocab tiny_gpt2() {
  Vocab v;
  v.model = "gpt2";
  v.pre = "default";
  v.add_space_prefix = false;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_to_unicode(static_cast<uint8_t>(b)));
  v.tokens.insert(v.tokens.end(), {"he", "ll", "hell", "hello", "\xC4\xA0w", "<|endoftext|>"});
  v.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w"};
  v.token_types.assign(v.tokens.size(), 1);
  v.token_types.back() = 3;
  v.eos_id = v.bos_id = static_cast<TokenId>(v.tokens.size() - 1);
  return v;
}

TEST(BpeGpt2, MergesByRankLeftmostFirst) {
  const Tokenizer tok(tiny_gpt2());
  EXPECT_EQ(tok.encode("hello", false, false), (std::vector<TokenId>{259}));
  // h e l l h e: "he" twice (rank 0), then "ll", then "hell"; "hell"+"he" is no merge.
  EXPECT_EQ(tok.encode("hellhe", false, false), (std::vector<TokenId>{258, 256}));
  EXPECT_EQ(tok.encode("hello w", false, false), (std::vector<TokenId>{259, 260}));
  EXPECT_EQ(tok.encode("x<|endoftext|>", false, true), (std::vector<TokenId>{'x', 261}));
  EXPECT_EQ(tok.decode(tok.encode("hello w\xF0\x9F\xA6\x99\n", false, false)), "hello w\xF0\x9F\xA6\x99\n");
  EXPECT_TRUE(tok.is_end_of_generation(261));
  EXPECT_FALSE(tok.add_bos());
}

TEST(BpeGpt2, CleanUpSpacesIsOptIn) {
  const Tokenizer tok(tiny_gpt2());
  const std::vector<TokenId> ids = tok.encode("a , b 's", false, false);
  EXPECT_EQ(tok.decode(ids), "a , b 's");
  EXPECT_EQ(tok.decode(ids, {.clean_up_spaces = true}), "a, b's");
}

}  // namespace
}  // namespace greta::tokenizer::test
