#pragma once
// The per-token data every tokenizer needs: text, score, kind, and a text -> id map
// that looks up string_views without allocating.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace greta::tokenizer {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class TokenTable {
 public:
  explicit TokenTable(const Vocab& vocab);

  int32_t size() const { return static_cast<int32_t>(texts_.size()); }
  const std::string& text(TokenId id) const { return texts_[static_cast<size_t>(id)]; }
  float score(TokenId id) const { return scores_.empty() ? 0.0f : scores_[static_cast<size_t>(id)]; }
  TokenType type(TokenId id) const { return types_[static_cast<size_t>(id)]; }
  uint8_t strip(TokenId id) const { return strip_.empty() ? 0 : strip_[static_cast<size_t>(id)]; }
  bool valid(TokenId id) const { return id >= 0 && id < size(); }
  // Control or unknown: only parsed from text on request, rendered "" by default.
  bool is_special(TokenId id) const {
    const TokenType t = type(id);
    return t == TokenType::CONTROL || t == TokenType::UNKNOWN;
  }
  // When several tokens share a text the last one wins, as in llama.cpp.
  TokenId find(std::string_view text) const {
    auto it = ids_.find(text);
    return it == ids_.end() ? kNoToken : it->second;
  }
  // llama.cpp promotes end-of-turn-looking tokens to control tokens.
  void set_type(TokenId id, TokenType t) { types_[static_cast<size_t>(id)] = t; }

 private:
  std::vector<std::string> texts_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::vector<uint8_t> strip_;
  std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>> ids_;
};

}  // namespace greta::tokenizer
