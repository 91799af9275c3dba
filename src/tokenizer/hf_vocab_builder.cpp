#include <algorithm>

#include "greta/error.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"

namespace greta::tokenizer {

using nlohmann::json;

namespace {

// Walks a (possibly nested Sequence) pre_tokenizer for the split regex and for a
// ByteLevel step that splits by itself (use_regex: GPT-2's regex).
void scan_pre_tokenizer(const json& node, std::string& split_regex, bool& byte_level, bool& byte_level_regex) {
  if (!node.is_object()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const json& child : node.value("pretokenizers", json::array())) {
      scan_pre_tokenizer(child, split_regex, byte_level, byte_level_regex);
    }
  } else if (type == "Split") {
    if (node.contains("pattern") && node["pattern"].is_object() && node["pattern"].contains("Regex")) {
      split_regex = node["pattern"]["Regex"].get<std::string>();
    }
  } else if (type == "ByteLevel") {
    byte_level = true;
    byte_level_regex = node.value("use_regex", true);
  }
}

// Meta's Llama 3 split pattern, as tokenizer.json writes it.
constexpr const char* kLlama3HfRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace

Vocab vocab_from_hf_tokenizer(const std::string& path, const std::string& config_path) {
  const json doc = read_json_file(path);
  if (!doc.is_object() || !doc.contains("model") || !doc["model"].is_object()) {
    throw InputError(path + ": no \"model\" object");
  }
  const json& model = doc["model"];
  if (model.value("type", "") != "BPE") {
    throw InputError(path + ": model type '" + model.value("type", "") + "' is not supported (only byte-level BPE)");
  }

  std::string split_regex;
  bool byte_level = false, byte_level_regex = false;
  if (doc.contains("pre_tokenizer")) scan_pre_tokenizer(doc["pre_tokenizer"], split_regex, byte_level, byte_level_regex);
  if (!byte_level) throw InputError(path + ": not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer)");

  Vocab v;
  v.model = "gpt2";
  v.add_space_prefix = false;
  if (split_regex == kLlama3HfRegex) {
    v.pre = "llama-bpe";
  } else if (split_regex.empty() && byte_level_regex) {
    v.pre = "gpt-2";
  } else {
    throw InputError(path + ": unsupported pre-tokenizer regex '" + split_regex + "'");
  }

  const json& vocab = model.value("vocab", json::object());
  if (!vocab.is_object() || vocab.empty()) throw InputError(path + ": model.vocab is missing or empty");
  size_t n = 0;
  for (const auto& [text, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      throw InputError(path + ": model.vocab['" + text + "'] is not a valid id");
    }
    n = std::max(n, static_cast<size_t>(id.get<int64_t>()) + 1);
  }
  v.tokens.assign(n, std::string());
  v.token_types.assign(n, static_cast<int32_t>(TokenType::UNUSED));
  for (const auto& [text, id] : vocab.items()) {
    const auto i = static_cast<size_t>(id.get<int64_t>());
    v.tokens[i] = text;
    v.token_types[i] = static_cast<int32_t>(TokenType::NORMAL);
  }
  for (size_t i = 0; i < n; ++i) {
    if (v.token_types[i] == static_cast<int32_t>(TokenType::UNUSED)) v.tokens[i] = "[PAD" + std::to_string(i) + "]";
  }

  const json& merges = model.value("merges", json::array());
  if (!merges.is_array()) throw InputError(path + ": model.merges is not an array");
  v.merges.reserve(merges.size());
  for (const json& m : merges) {
    if (m.is_string()) {  // "left right"
      v.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["left", "right"]
      v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      throw InputError(path + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }

  place_added_tokens(v, read_added_tokens(doc, path));
  apply_tokenizer_config(v, config_path);
  v.validate(path);
  return v;
}

}  // namespace greta::tokenizer
