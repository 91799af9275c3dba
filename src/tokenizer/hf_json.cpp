#include "tokenizer/hf_json.h"

#include <algorithm>
#include <fstream>
#include <unordered_map>

#include "greta/error.h"

namespace greta::tokenizer {

using nlohmann::json;

json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(path + ": not valid JSON: " + e.what());
  }
}

std::vector<AddedToken> read_added_tokens(const json& tokenizer_json, const std::string& path) {
  std::vector<AddedToken> out;
  auto it = tokenizer_json.find("added_tokens");
  if (it == tokenizer_json.end()) return out;
  if (!it->is_array()) throw InputError(path + ": added_tokens is not an array");
  for (const json& t : *it) {
    if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["id"].is_number_integer() ||
        !t["content"].is_string()) {
      throw InputError(path + ": an added_tokens entry lacks an integer id or a content string");
    }
    const int64_t id = t["id"].get<int64_t>();
    if (id < 0 || id > INT32_MAX) throw InputError(path + ": added token id " + std::to_string(id) + " out of range");
    uint8_t strip = kStripNone;
    if (t.value("lstrip", false)) strip |= kStripLeft;
    if (t.value("rstrip", false)) strip |= kStripRight;
    out.push_back({static_cast<TokenId>(id), t["content"].get<std::string>(), t.value("special", false), strip});
  }
  return out;
}

void place_added_tokens(Vocab& v, const std::vector<AddedToken>& added) {
  size_t n = v.tokens.size();
  for (const AddedToken& a : added) n = std::max(n, static_cast<size_t>(a.id) + 1);
  const size_t old_n = v.tokens.size();
  v.tokens.resize(n);
  v.token_types.resize(n, static_cast<int32_t>(TokenType::NORMAL));
  std::vector<bool> filled(n, false);
  std::fill(filled.begin(), filled.begin() + static_cast<long>(old_n), true);
  bool any_strip = false;
  for (const AddedToken& a : added) any_strip = any_strip || a.strip != kStripNone;
  if (any_strip) v.strip.resize(n, kStripNone);
  for (const AddedToken& a : added) {
    const auto i = static_cast<size_t>(a.id);
    v.tokens[i] = a.content;
    v.token_types[i] = static_cast<int32_t>(a.special ? TokenType::CONTROL : TokenType::USER_DEFINED);
    if (any_strip) v.strip[i] = a.strip;
    filled[i] = true;
  }
  for (size_t i = old_n; i < n; ++i) {
    if (!filled[i]) {
      v.tokens[i] = "[PAD" + std::to_string(i) + "]";
      v.token_types[i] = static_cast<int32_t>(TokenType::UNUSED);
    }
  }
}

namespace {

// bos_token and friends are a string or {"content": ...}.
std::string token_text(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"];
  return {};
}

}  // namespace

void apply_tokenizer_config(Vocab& v, const std::string& config_path) {
  json config = json::object();
  if (!config_path.empty()) config = read_json_file(config_path);
  if (!config.is_object()) throw InputError(config_path + ": not a JSON object");

  std::unordered_map<std::string, TokenId> ids;
  for (size_t i = 0; i < v.tokens.size(); ++i) ids[v.tokens[i]] = static_cast<TokenId>(i);
  auto find_first = [&](std::initializer_list<const char*> texts) {
    for (const char* t : texts) {
      if (auto it = ids.find(t); it != ids.end()) return it->second;
    }
    return kNoToken;
  };
  auto from_config = [&](const char* key, TokenId fallback) {
    const std::string text = token_text(config, key);
    if (text.empty()) return fallback;
    auto it = ids.find(text);
    if (it == ids.end()) throw InputError(config_path + ": " + key + " '" + text + "' is not in the vocabulary");
    return it->second;
  };
  v.bos_id = from_config("bos_token", find_first({"<|begin_of_text|>", "<s>"}));
  v.eos_id = from_config("eos_token", find_first({"<|end_of_text|>", "</s>", "<|endoftext|>"}));
  v.unk_id = from_config("unk_token", kNoToken);
  v.pad_id = from_config("pad_token", kNoToken);
  v.eot_id = find_first({"<|eot_id|>", "<|im_end|>"});
  v.eom_id = find_first({"<|eom_id|>"});

  const bool llama3 = v.pre == "llama-bpe";
  v.add_bos = config.contains("add_bos_token") && config["add_bos_token"].is_boolean()
                  ? config["add_bos_token"].get<bool>()
                  : llama3 && v.bos_id != kNoToken;
  v.add_eos = config.contains("add_eos_token") && config["add_eos_token"].is_boolean() && config["add_eos_token"].get<bool>();

  // A single template, or a list of {name, template} of which "default" is the one.
  if (auto it = config.find("chat_template"); it != config.end()) {
    if (it->is_string()) {
      v.chat_template = it->get<std::string>();
    } else if (it->is_array()) {
      for (const json& entry : *it) {
        if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template")) {
          v.chat_template = entry["template"].get<std::string>();
        }
      }
    }
  }
}

}  // namespace greta::tokenizer
