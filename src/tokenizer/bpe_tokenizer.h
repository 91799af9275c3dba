#pragma once
// Byte-level BPE (GPT-2 style) for one run of plain text: pre-tokenizer words, each
// mapped byte -> unicode and merged pair by pair in merge-rank order (leftmost on
// ties), as llama.cpp's llm_tokenizer_bpe does. Results per word are cached.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/token_table.h"

namespace greta::tokenizer {

class BpeTokenizer {
 public:
  // Throws InputError for a malformed merge or an unknown pre-tokenizer.
  // ignore_merges: a word that is itself a token is emitted whole (Llama 3 does this).
  BpeTokenizer(const TokenTable& table, const std::vector<std::string>& merges, const std::string& pre_name,
               bool ignore_merges);
  void encode(std::string_view text, std::vector<TokenId>& out) const;

 private:
  void encode_word(std::string_view mapped_word, std::vector<TokenId>& out) const;

  struct Merge {
    int32_t rank;
    TokenId result;
  };
  static uint64_t pair_key(TokenId left, TokenId right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }

  const TokenTable* table_;
  PreTokenizer pre_;
  bool ignore_merges_;
  std::unordered_map<uint64_t, Merge> merges_;

  // Words repeat a lot in text; the cache skips the merge loop for words seen before.
  // Bounded: cleared when full. Guarded because encode() is const and may run on
  // several threads.
  static constexpr size_t kMaxCachedWords = 1 << 16;
  static constexpr size_t kMaxCachedWordBytes = 64;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<TokenId>, StringHash, std::equal_to<>> cache_;
};

}  // namespace greta::tokenizer
