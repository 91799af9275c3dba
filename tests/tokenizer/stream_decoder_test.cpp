// Streaming decode never splits a UTF-8 character and adds up to decode().
#include <gtest/gtest.h>

#include "tokenizer/unicode_bytes.h"
#include "tokenizer_test_data.h"

namespace greta::tokenizer::test {
namespace {

std::string stream_all(const Tokenizer& tok, const std::vector<TokenId>& ids, DecodeOptions options,
                       std::vector<std::string>* chunks = nullptr) {
  StreamDecoder stream(tok, options);
  const bool valid_text = is_valid_utf8(tok.decode(ids, options));
  std::string text;
  for (TokenId id : ids) {
    const std::string chunk = stream.push(id);
    if (valid_text) {
      EXPECT_TRUE(is_valid_utf8(chunk)) << "chunk '" << chunk << "'";
    }
    if (chunks) chunks->push_back(chunk);
    text += chunk;
  }
  return text + stream.flush();
}

TEST(StreamDecoder, HoldsBackPartialCharacters) {
  const Tokenizer tok = gguf_tokenizer("tokenizers/vectors/ggml-vocab-llama-spm.gguf");
  // The llama is not in the vocabulary: four byte tokens.
  const std::vector<TokenId> ids = tok.encode("\xF0\x9F\xA6\x99!", false, false);
  std::vector<std::string> chunks;
  ASSERT_EQ(ids, (std::vector<TokenId>{29871, 243, 162, 169, 156, 29991}));
  const std::string text = stream_all(tok, ids, {.sequence_start = true}, &chunks);
  EXPECT_EQ(text, "\xF0\x9F\xA6\x99!");
  // "▁" loses its space (start of sequence), three bytes wait, the fourth completes.
  EXPECT_EQ(chunks, (std::vector<std::string>{"", "", "", "", "\xF0\x9F\xA6\x99", "!"}));
}

TEST(StreamDecoder, MatchesDecodeOnEveryVector) {
  for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"}) {
    const Tokenizer tok = gguf_tokenizer(std::string("tokenizers/vectors/") + name);
    for (const VectorCase& c : read_vectors(name)) {
      EXPECT_EQ(stream_all(tok, c.ids, {.sequence_start = true}), tok.decode(c.ids)) << c.text;
      EXPECT_EQ(stream_all(tok, c.ids, {.sequence_start = false}), tok.decode(c.ids, {.sequence_start = false}));
    }
  }
  const Tokenizer& tok = llama3_hf();
  for (const VectorCase& c : read_vectors("ggml-vocab-llama-bpe.gguf")) {
    EXPECT_EQ(stream_all(tok, c.ids, {}), c.text);
  }
}

TEST(StreamDecoder, BosAndSpecialHandling) {
  const Tokenizer tok = gguf_tokenizer("models/stories260K.gguf");
  const std::vector<TokenId> ids = tok.encode("Once upon a time", true, false);
  // After a BOS the first word keeps its space, in decode and in the stream.
  EXPECT_EQ(stream_all(tok, ids, {.sequence_start = true}), " Once upon a time");
  EXPECT_EQ(stream_all(tok, ids, {.remove_special = true, .sequence_start = true}), " Once upon a time");
  EXPECT_EQ(stream_all(tok, ids, {.render_special = true, .sequence_start = true}), "<s> Once upon a time");
  // Without a BOS, a stream that starts the sequence drops the prefix space.
  const std::vector<TokenId> bare = tok.encode("Once upon a time", false, false);
  EXPECT_EQ(stream_all(tok, bare, {.sequence_start = true}), "Once upon a time");
  EXPECT_EQ(stream_all(tok, bare, {.sequence_start = false}), " Once upon a time");
}

TEST(UnicodeBytes, CompletePrefix) {
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(complete_utf8_prefix("ab\xE2\x96"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\xE2\x96\x81"), 5u);
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\xA6"), 0u);
  EXPECT_EQ(complete_utf8_prefix("a\xFF"), 2u);      // invalid: passed through
  EXPECT_EQ(complete_utf8_prefix("a\xE2\x41"), 3u);  // broken sequence: not waited for
}

TEST(UnicodeBytes, ByteLevelMappingRoundTrips) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const std::string mapped = to_byte_level(all);
  EXPECT_TRUE(is_valid_utf8(mapped));
  EXPECT_EQ(byte_to_unicode(' '), "\xC4\xA0");  // Ġ
  EXPECT_EQ(byte_to_unicode('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(byte_to_unicode('A'), "A");
  std::string back;
  EXPECT_TRUE(from_byte_level(mapped, back));
  EXPECT_EQ(back, all);
}

}  // namespace
}  // namespace greta::tokenizer::test
