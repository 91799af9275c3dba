#include "tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <queue>
#include <string>

#include "tokenizer/unicode_bytes.h"

namespace greta::tokenizer {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // "▁"

struct Symbol {
  int prev;
  int next;
  size_t start;  // byte offset in the text
  size_t length;  // 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t length;  // bytes of the merged text, to detect a pair that changed since it was queued
};

// Highest score first; on equal scores the leftmost pair, as llama.cpp orders them.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ') {
      out += kSpaceMark;
    } else {
      out += c;
    }
  }
  return out;
}

SpmTokenizer::SpmTokenizer(const TokenTable& table, TokenId unk_id) : table_(&table), unk_id_(unk_id) {
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    TokenId id = table.find(name);
    if (id == kNoToken) id = table.find(std::string(1, static_cast<char>(b)));  // vocabularies without byte tokens
    byte_tokens_[b] = id == kNoToken ? unk_id : id;
  }
  split_at_words_ = true;
  for (TokenId id = 0; id < table.size() && split_at_words_; ++id) {
    const std::string& t = table.text(id);
    for (size_t pos = t.find(kSpaceMark, 1); pos != std::string::npos; pos = t.find(kSpaceMark, pos + 1)) {
      if (pos < 3 || t.compare(pos - 3, 3, kSpaceMark) != 0) {  // "▁" after something else
        split_at_words_ = false;
        break;
      }
    }
  }
}

void SpmTokenizer::encode(std::string_view text, std::vector<TokenId>& out) const {
  if (!split_at_words_) {
    encode_run(text, out);
    return;
  }
  size_t word_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t mark = text.find(kSpaceMark, pos);
    if (mark == std::string_view::npos) break;
    // A word starts at a "▁" that does not follow another "▁".
    if (mark > word_start && !(mark >= 3 && text.compare(mark - 3, 3, kSpaceMark) == 0)) {
      encode_word_cached(text.substr(word_start, mark - word_start), out);
      word_start = mark;
    }
    pos = mark + 3;
  }
  if (word_start < text.size()) encode_word_cached(text.substr(word_start), out);
}

void SpmTokenizer::encode_word_cached(std::string_view word, std::vector<TokenId>& out) const {
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  encode_run(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCachedWords) cache_.clear();
    cache_.emplace(std::string(word), std::vector<TokenId>(out.begin() + static_cast<long>(first), out.end()));
  }
}

void SpmTokenizer::encode_run(std::string_view text, std::vector<TokenId>& out) const {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = std::min(utf8_sequence_length(static_cast<uint8_t>(text[pos])), text.size() - pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, index + 1, pos, len});
    pos += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const std::string_view merged = text.substr(l.start, l.length + r.length);
    const TokenId id = table_->find(merged);
    if (id == kNoToken) return;
    queue.push({left, right, table_->score(id), merged.size()});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i - 1), static_cast<int>(i));

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<size_t>(b.left)];
    Symbol& r = symbols[static_cast<size_t>(b.right)];
    if (l.length == 0 || r.length == 0 || l.length + r.length != b.length) continue;  // stale
    l.length += r.length;
    r.length = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.start, s.length);
    const TokenId id = table_->find(piece);
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // Merged pieces are always tokens, so this is a single character outside the
    // vocabulary: fall back to its bytes.
    for (char c : piece) {
      const TokenId byte_id = byte_tokens_[static_cast<uint8_t>(c)];
      if (byte_id != kNoToken) out.push_back(byte_id);  // no byte token and no unk: dropped
    }
  }
}

}  // namespace greta::tokenizer
