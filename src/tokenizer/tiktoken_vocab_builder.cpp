#include <filesystem>
#include <fstream>
#include <limits>
#include <unordered_map>

#include "greta/error.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/token_table.h"
#include "tokenizer/unicode_bytes.h"
#include "tokenizer/vocab.h"

namespace greta::tokenizer {

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool decode_base64(std::string_view text, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] != '='; ++i) {
    const int v = base64_value(text[i]);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  for (; i < text.size(); ++i) {
    if (text[i] != '=') return false;
  }
  return !out.empty();
}

std::vector<AddedToken> standard_llama3_special_tokens(TokenId first_id) {
  std::vector<std::string> names = {
      "<|begin_of_text|>",           "<|end_of_text|>",
      "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
      "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
      "<|start_header_id|>",         "<|end_header_id|>",
      "<|reserved_special_token_4|>", "<|eot_id|>",
  };
  for (int i = 5; i < 251; ++i) names.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  std::vector<AddedToken> out;
  for (size_t i = 0; i < names.size(); ++i) out.push_back({first_id + static_cast<TokenId>(i), names[i], true, kStripNone});
  return out;
}

// The two parts BPE splits `token` into when only tokens ranked below `rank` may be
// formed: merge the lowest-ranked adjacent pair until none is left. Tiktoken encodes the
// same way, so each token arises from exactly this merge. False if it does not end in two.
bool bpe_split(std::string_view token, int32_t rank,
               const std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>& ranks, size_t& split) {
  std::vector<size_t> bounds;  // start of each part, plus the end
  for (size_t i = 0; i <= token.size(); ++i) bounds.push_back(i);
  while (bounds.size() > 3) {
    int32_t best = std::numeric_limits<int32_t>::max();
    size_t best_i = 0;
    for (size_t i = 0; i + 2 < bounds.size(); ++i) {
      auto it = ranks.find(token.substr(bounds[i], bounds[i + 2] - bounds[i]));
      if (it != ranks.end() && it->second < rank && it->second < best) {
        best = it->second;
        best_i = i;
      }
    }
    if (best == std::numeric_limits<int32_t>::max()) return false;
    bounds.erase(bounds.begin() + static_cast<long>(best_i) + 1);
  }
  if (bounds.size() != 3) return false;
  split = bounds[1];
  return true;
}

}  // namespace

Vocab vocab_from_tiktoken(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open");

  std::vector<std::string> by_rank;  // raw bytes
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ranks;
  std::string line, bytes;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    auto bad = [&](const std::string& why) {
      return InputError(path + ": line " + std::to_string(line_no) + ": " + why);
    };
    if (space == std::string::npos) throw bad("expected 'base64 rank'");
    if (!decode_base64(std::string_view(line).substr(0, space), bytes)) throw bad("invalid base64");
    size_t end = 0;
    long long rank = -1;
    try {
      rank = std::stoll(line.substr(space + 1), &end);
    } catch (const std::exception&) {
      throw bad("invalid rank");
    }
    if (rank < 0 || rank > INT32_MAX) throw bad("rank out of range");
    if (static_cast<size_t>(rank) != by_rank.size()) throw bad("ranks must be 0, 1, 2, ... in order");
    if (!ranks.emplace(bytes, static_cast<int32_t>(rank)).second) throw bad("duplicate token");
    by_rank.push_back(bytes);
  }
  if (by_rank.empty()) throw InputError(path + ": no tokens");

  Vocab v;
  v.model = "gpt2";
  v.pre = "llama-bpe";
  v.add_space_prefix = false;
  v.tokens.reserve(by_rank.size() + 256);
  for (const std::string& t : by_rank) v.tokens.push_back(to_byte_level(t));
  v.token_types.assign(v.tokens.size(), static_cast<int32_t>(TokenType::NORMAL));

  for (size_t r = 0; r < by_rank.size(); ++r) {
    const std::string& t = by_rank[r];
    if (t.size() < 2) continue;
    size_t split = 0;
    // Tokens no merge can form are still produced whole, since Llama 3 looks words up first.
    if (!bpe_split(t, static_cast<int32_t>(r), ranks, split)) continue;
    v.merges.push_back(to_byte_level(std::string_view(t).substr(0, split)) + " " +
                       to_byte_level(std::string_view(t).substr(split)));
  }

  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  const std::filesystem::path tokenizer_json = dir / "tokenizer.json";
  const std::filesystem::path config_json = dir / "tokenizer_config.json";
  const auto first_special = static_cast<TokenId>(by_rank.size());
  if (std::filesystem::exists(tokenizer_json)) {
    std::vector<AddedToken> added = read_added_tokens(read_json_file(tokenizer_json.string()), tokenizer_json.string());
    for (const AddedToken& a : added) {
      if (a.id < first_special) {
        throw InputError(tokenizer_json.string() + ": added token " + std::to_string(a.id) + " '" + a.content +
                         "' collides with a tiktoken rank");
      }
    }
    place_added_tokens(v, added);
  } else {
    place_added_tokens(v, standard_llama3_special_tokens(first_special));
  }
  apply_tokenizer_config(v, std::filesystem::exists(config_json) ? config_json.string() : std::string());
  v.validate(path);
  return v;
}

}  // namespace greta::tokenizer
