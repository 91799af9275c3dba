#include "tokenizer/special_tokens.h"

#include <algorithm>

namespace greta::tokenizer {

namespace {

bool is_c_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

}  // namespace

SpecialTokenSplitter::SpecialTokenSplitter(const TokenTable& table) : table_(&table) {
  std::vector<TokenId> ids;
  for (TokenId id = 0; id < table.size(); ++id) {
    const TokenType t = table.type(id);
    if ((t == TokenType::CONTROL || t == TokenType::UNKNOWN || t == TokenType::USER_DEFINED) && !table.text(id).empty()) {
      ids.push_back(id);
    }
  }
  // llama.cpp tries longer texts first; among equal lengths we take lower ids first.
  std::stable_sort(ids.begin(), ids.end(),
                   [&](TokenId a, TokenId b) { return table.text(a).size() > table.text(b).size(); });
  terminal_.push_back(-1);
  for (TokenId id : ids) {
    uint32_t node = 0;
    for (char c : table.text(id)) {
      const uint64_t key = (uint64_t{node} << 8) | static_cast<uint8_t>(c);
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        const auto child = static_cast<uint32_t>(terminal_.size());
        terminal_.push_back(-1);
        it = edges_.emplace(key, child).first;
      }
      node = it->second;
    }
    if (terminal_[node] >= 0) continue;  // a duplicate text: the first in order wins
    starts_token_[static_cast<uint8_t>(table.text(id)[0])] = true;
    const bool always = table.type(id) == TokenType::USER_DEFINED;
    any_always_ = any_always_ || always;
    terminal_[node] = static_cast<int32_t>(candidates_.size());
    candidates_.push_back({id, always});
  }
}

std::vector<Fragment> SpecialTokenSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> out;
  if (text.empty()) return out;
  if (candidates_.empty() || (!parse_special && !any_always_)) {
    out.push_back({kNoToken, text});
    return out;
  }

  struct Match {
    size_t start;
    size_t length;
    int32_t candidate;
  };
  std::vector<Match> matches;
  for (size_t p = 0; p < text.size(); ++p) {
    if (!starts_token_[static_cast<uint8_t>(text[p])]) continue;
    uint32_t node = 0;
    for (size_t q = p; q < text.size(); ++q) {
      auto it = edges_.find((uint64_t{node} << 8) | static_cast<uint8_t>(text[q]));
      if (it == edges_.end()) break;
      node = it->second;
      const int32_t c = terminal_[node];
      if (c >= 0 && (parse_special || candidates_[static_cast<size_t>(c)].always)) {
        matches.push_back({p, q + 1 - p, c});
      }
    }
  }
  if (matches.empty()) {
    out.push_back({kNoToken, text});
    return out;
  }

  // Accept matches in llama.cpp's order: by token priority, then left to right, each
  // only where no accepted match already covers a byte of it.
  // Candidates were numbered in priority order.
  std::stable_sort(matches.begin(), matches.end(),
                   [](const Match& a, const Match& b) { return a.candidate < b.candidate; });
  std::vector<uint8_t> taken(text.size(), 0);
  std::vector<Match> accepted;
  for (const Match& m : matches) {
    if (std::any_of(taken.begin() + static_cast<long>(m.start), taken.begin() + static_cast<long>(m.start + m.length),
                    [](uint8_t t) { return t != 0; })) {
      continue;
    }
    std::fill_n(taken.begin() + static_cast<long>(m.start), m.length, uint8_t{1});
    accepted.push_back(m);
  }
  std::sort(accepted.begin(), accepted.end(), [](const Match& a, const Match& b) { return a.start < b.start; });

  size_t pos = 0;
  for (size_t i = 0; i < accepted.size(); ++i) {
    const Match& m = accepted[i];
    const TokenId id = candidates_[static_cast<size_t>(m.candidate)].id;
    size_t gap_end = m.start;
    if (table_->strip(id) & kStripLeft) {
      while (gap_end > pos && is_c_space(text[gap_end - 1])) --gap_end;
    }
    if (gap_end > pos) out.push_back({kNoToken, text.substr(pos, gap_end - pos)});
    out.push_back({id, text.substr(m.start, m.length)});
    pos = m.start + m.length;
    if (table_->strip(id) & kStripRight) {
      const size_t limit = i + 1 < accepted.size() ? accepted[i + 1].start : text.size();
      while (pos < limit && is_c_space(text[pos])) ++pos;
    }
  }
  if (pos < text.size()) out.push_back({kNoToken, text.substr(pos)});
  return out;
}

}  // namespace greta::tokenizer
