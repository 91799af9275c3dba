#pragma once
// Splits text into runs of plain text and special tokens written out in it, with
// llama.cpp's precedence: longer token texts first, then left to right.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/token_table.h"

namespace greta::tokenizer {

struct Fragment {
  TokenId token = kNoToken;  // kNoToken: plain text in `text`
  std::string_view text;
};

class SpecialTokenSplitter {
 public:
  // Takes every control, unknown and user-defined token of the table.
  explicit SpecialTokenSplitter(const TokenTable& table);

  // parse_special: control and unknown tokens are recognised too (user-defined always are).
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Candidate {
    TokenId id;
    bool always;  // user-defined: split out even without parse_special
  };
  const TokenTable* table_;
  // A byte trie over the token texts: node -> child by (node << 8 | byte).
  std::unordered_map<uint64_t, uint32_t> edges_;
  std::vector<int32_t> terminal_;  // node -> index into candidates_, or -1
  std::vector<Candidate> candidates_;  // in llama.cpp's priority order
  bool starts_token_[256] = {};          // bytes some token text begins with
  bool any_always_ = false;
};

}  // namespace greta::tokenizer
