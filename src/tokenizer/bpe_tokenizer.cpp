#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <queue>

#include "greta/error.h"
#include "tokenizer/unicode_bytes.h"

namespace greta::tokenizer {

namespace {

struct Symbol {
  int prev;
  int next;
  TokenId id;     // kNoToken: a character that is not a token (never merges)
  size_t start;   // byte offset in the mapped word
  size_t length;  // 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  int32_t rank;
  TokenId result;
  size_t length;
};

// Lowest rank first; on equal ranks the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

BpeTokenizer::BpeTokenizer(const TokenTable& table, const std::vector<std::string>& merges,
                           const std::string& pre_name, bool ignore_merges)
    : table_(&table), pre_(pre_name), ignore_merges_(ignore_merges) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    // The separator is the first space after the first character (a part may be " ").
    const size_t sep = m.find(' ', 1);
    if (sep == std::string::npos) {
      throw InputError("tokenizer.ggml.merges[" + std::to_string(rank) + "]: '" + m + "' is not 'left right'");
    }
    const std::string_view left(m.data(), sep), right(m.data() + sep + 1, m.size() - sep - 1);
    const TokenId l = table.find(left), r = table.find(right);
    const TokenId result = table.find(std::string(left) + std::string(right));
    // A merge whose parts or result are not tokens can never apply to token symbols.
    if (l == kNoToken || r == kNoToken || result == kNoToken) continue;
    merges_.try_emplace(pair_key(l, r), Merge{static_cast<int32_t>(rank), result});
  }
}

void BpeTokenizer::encode(std::string_view text, std::vector<TokenId>& out) const {
  std::vector<std::string_view> words;
  pre_.split(text, words);
  std::string mapped;
  for (std::string_view word : words) {
    mapped.clear();
    append_byte_level(mapped, word);
    encode_word(mapped, out);
  }
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (ignore_merges_) {
    const TokenId whole = table_->find(word);
    if (whole != kNoToken) {
      out.push_back(whole);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }

  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t pos = 0; pos < word.size();) {
    const size_t len = std::min(utf8_sequence_length(static_cast<uint8_t>(word[pos])), word.size() - pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, index + 1, table_->find(word.substr(pos, len)), pos, len});
    pos += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    if (l.id == kNoToken || r.id == kNoToken) return;
    auto it = merges_.find(pair_key(l.id, r.id));
    if (it == merges_.end()) return;
    queue.push({left, right, it->second.rank, it->second.result, l.length + r.length});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i - 1), static_cast<int>(i));

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<size_t>(b.left)];
    Symbol& r = symbols[static_cast<size_t>(b.right)];
    if (l.length == 0 || r.length == 0 || l.length + r.length != b.length) continue;  // stale
    l.length += r.length;
    l.id = b.result;
    r.length = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  const size_t first_out = out.size();
  for (int i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    if (s.id != kNoToken) {
      out.push_back(s.id);
      continue;
    }
    // A character that is not a token: its single bytes, where those are tokens.
    for (char c : word.substr(s.start, s.length)) {
      const TokenId id = table_->find(std::string_view(&c, 1));
      if (id != kNoToken) out.push_back(id);
    }
  }
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCachedWords) cache_.clear();
    cache_.emplace(std::string(word), std::vector<TokenId>(out.begin() + static_cast<long>(first_out), out.end()));
  }
}

}  // namespace greta::tokenizer
