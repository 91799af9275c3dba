#include "tokenizer/token_table.h"

namespace greta::tokenizer {

TokenTable::TokenTable(const Vocab& vocab)
    : texts_(vocab.tokens), scores_(vocab.scores), strip_(vocab.strip) {
  types_.resize(texts_.size(), TokenType::NORMAL);
  for (size_t i = 0; i < vocab.token_types.size() && i < types_.size(); ++i) {
    types_[i] = static_cast<TokenType>(vocab.token_types[i]);
  }
  ids_.reserve(texts_.size());
  for (size_t i = 0; i < texts_.size(); ++i) {
    ids_[texts_[i]] = static_cast<TokenId>(i);
  }
}

}  // namespace greta::tokenizer
