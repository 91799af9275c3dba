#pragma once
// SentencePiece-style tokenization of one run of plain text, as llama.cpp's
// llm_tokenizer_spm does it: start from UTF-8 characters, repeatedly merge the adjacent
// pair whose concatenation is the highest-scoring token (leftmost on ties), then emit
// each piece's id, or its bytes as <0xXX> tokens when it is not a token, or unk.
#include <string_view>
#include <vector>

#include "tokenizer/token_table.h"

namespace greta::tokenizer {

class SpmTokenizer {
 public:
  SpmTokenizer(const TokenTable& table, TokenId unk_id);
  // `text` is already escaped (spaces as "▁", prefix added by the caller).
  void encode(std::string_view text, std::vector<TokenId>& out) const;
  TokenId byte_token(uint8_t byte) const { return byte_tokens_[byte]; }

 private:
  const TokenTable* table_;
  TokenId unk_id_;
  TokenId byte_tokens_[256];
};

// Replaces every ' ' by "▁" (U+2581).
std::string escape_spaces(std::string_view text);

}  // namespace greta::tokenizer
