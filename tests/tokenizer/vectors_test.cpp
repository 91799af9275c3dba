// llama.cpp's tokenizer test vectors: every string must give exactly the expected ids
// (no BOS, special tokens not parsed, as llama.cpp's test-tokenizer-0 runs them), and
// decode must give the string back.
#include <gtest/gtest.h>

#include "tokenizer_test_data.h"

namespace greta::tokenizer::test {
namespace {

void expect_vectors(const Tokenizer& tok, const std::string& name) {
  const std::vector<VectorCase> cases = read_vectors(name);
  ASSERT_EQ(cases.size(), 46u) << name;
  int failures = 0;
  for (const VectorCase& c : cases) {
    const std::vector<TokenId> got = tok.encode(c.text, false, false);
    if (got != c.ids) ++failures;
    EXPECT_EQ(ids_to_string(got), ids_to_string(c.ids)) << name << " text: '" << c.text << "'";
    // Exact round trip for every vector string, including the ones with leading spaces:
    // decode drops only the one space the SentencePiece prefix added.
    EXPECT_EQ(tok.decode(got), c.text) << name << " round trip of '" << c.text << "'";
  }
  EXPECT_EQ(failures, 0) << name;
}

TEST(TokenizerVectors, LlamaSpm) { expect_vectors(gguf_tokenizer("tokenizers/vectors/ggml-vocab-llama-spm.gguf"), "ggml-vocab-llama-spm.gguf"); }

TEST(TokenizerVectors, Phi3) { expect_vectors(gguf_tokenizer("tokenizers/vectors/ggml-vocab-phi-3.gguf"), "ggml-vocab-phi-3.gguf"); }

TEST(TokenizerVectors, LlamaBpeFromTokenizerJson) { expect_vectors(llama3_hf(), "ggml-vocab-llama-bpe.gguf"); }

TEST(TokenizerVectors, LlamaBpeFromTiktoken) { expect_vectors(llama3_tiktoken(), "ggml-vocab-llama-bpe.gguf"); }

}  // namespace
}  // namespace greta::tokenizer::test
