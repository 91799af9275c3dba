#pragma once
// SentencePiece-style tokenization of one run of plain text, as llama.cpp's
// llm_tokenizer_spm does it: start from UTF-8 characters, repeatedly merge the adjacent
// pair whose concatenation is the highest-scoring token (leftmost on ties), then emit
// each piece's id, or its bytes as <0xXX> tokens when it is not a token, or unk.
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/token_table.h"

namespace greta::tokenizer {

class SpmTokenizer {
 public:
  SpmTokenizer(const TokenTable& table, TokenId unk_id);
  // `text` is already escaped (spaces as "▁", prefix added by the caller).
  void encode(std::string_view text, std::vector<TokenId>& out) const;

 private:
  // The merge loop over one run; pieces never cross the ends of `text`.
  void encode_run(std::string_view text, std::vector<TokenId>& out) const;
  void encode_word_cached(std::string_view word, std::vector<TokenId>& out) const;

  const TokenTable* table_;
  TokenId unk_id_;
  TokenId byte_tokens_[256];
  // When no token has a "▁" right after another character, no piece can span the start
  // of a word ("▁" after a non-"▁"), so words merge independently with the same result
  // as the whole text: linear time overall, and words can be cached.
  bool split_at_words_ = false;
  static constexpr size_t kMaxCachedWords = 1 << 16;
  static constexpr size_t kMaxCachedWordBytes = 64;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<TokenId>, StringHash, std::equal_to<>> cache_;
};

// Replaces every ' ' by "▁" (U+2581).
std::string escape_spaces(std::string_view text);

}  // namespace greta::tokenizer
