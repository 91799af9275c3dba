#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>

#include "greta/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace greta::tokenizer {

namespace {

using gguf::Value;
using gguf::ValueType;

bool is_llama3_pre(const std::string& pre) { return pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3"; }

// A special-token id from metadata: absent, negative or 0xFFFFFFFF (how converters write
// "none") leave `id` as it is; anything else must name a token.
void read_token_id(const gguf::GgufFile& file, const char* key, int32_t n_tokens, TokenId& id) {
  const std::optional<int64_t> value = file.get_int(key);
  if (!value || *value < 0 || *value == 0xFFFFFFFFLL) return;
  if (*value >= n_tokens) {
    throw InputError(file.path() + ": " + key + " = " + std::to_string(*value) + " is outside the vocabulary of " +
                     std::to_string(n_tokens) + " tokens");
  }
  id = static_cast<TokenId>(*value);
}

const gguf::Array& require_array(const gguf::GgufFile& file, const char* key, ValueType elem, const char* what) {
  const gguf::Array* array = file.get_array(key);
  if (!array) throw InputError(file.path() + ": " + key + " is missing (" + what + ")");
  if (array->elem_type != elem) {
    throw InputError(file.path() + ": " + key + " holds " + gguf::value_type_name(array->elem_type) + ", expected " +
                     gguf::value_type_name(elem));
  }
  return *array;
}

// llama.cpp gives Phi-3's special tokens (but not <unk>, <s>, <|endoftext|>) and "</s>"
// the right-strip attribute, by model name, because its GGUF files cannot say so.
void apply_phi3_strip(Vocab& v) {
  v.strip.assign(v.tokens.size(), kStripNone);
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const auto t = static_cast<TokenType>(v.token_types.empty() ? 1 : v.token_types[i]);
    if (t == TokenType::CONTROL || t == TokenType::USER_DEFINED || t == TokenType::UNKNOWN || v.tokens[i] == "</s>") {
      v.strip[i] = kStripRight;
    }
    if (v.tokens[i] == "<unk>" || v.tokens[i] == "<s>" || v.tokens[i] == "<|endoftext|>") v.strip[i] = kStripNone;
  }
}

}  // namespace

Vocab Vocab::from_gguf(const gguf::GgufFile& file) {
  Vocab v;
  const std::optional<std::string> model = file.get_string("tokenizer.ggml.model");
  if (!model) throw InputError(file.path() + ": tokenizer.ggml.model is missing: the file has no vocabulary");
  v.model = *model;
  if (v.model == "no_vocab" || v.model == "none") {
    v.model = "no_vocab";
    return v;
  }
  if (v.model != "llama" && v.model != "gpt2") {
    throw InputError(file.path() + ": tokenizer.ggml.model = '" + v.model +
                     "' is not supported (supported: llama, gpt2, no_vocab)");
  }
  v.pre = file.get_string("tokenizer.ggml.pre").value_or("default");

  const gguf::Array& tokens = require_array(file, "tokenizer.ggml.tokens", ValueType::STRING, "the token texts");
  v.tokens.reserve(tokens.items.size());
  for (const Value& t : tokens.items) v.tokens.push_back(t.as_string());
  if (v.tokens.empty()) throw InputError(file.path() + ": tokenizer.ggml.tokens is empty");
  if (v.tokens.size() > static_cast<size_t>(INT32_MAX)) throw InputError(file.path() + ": too many tokens");
  const auto n = static_cast<int32_t>(v.tokens.size());

  if (file.find("tokenizer.ggml.scores")) {
    const gguf::Array& scores = require_array(file, "tokenizer.ggml.scores", ValueType::F32, "token scores");
    v.scores.reserve(scores.items.size());
    for (const Value& s : scores.items) v.scores.push_back(static_cast<float>(s.as_f64()));
  }
  if (const gguf::Array* types = file.get_array("tokenizer.ggml.token_type")) {
    v.token_types.reserve(types->items.size());
    for (const Value& t : types->items) {
      if (!t.is_integer()) throw InputError(file.path() + ": tokenizer.ggml.token_type holds non-integers");
      v.token_types.push_back(static_cast<int32_t>(t.as_i64()));
    }
  }
  if (v.model == "gpt2") {
    const gguf::Array& merges = require_array(file, "tokenizer.ggml.merges", ValueType::STRING, "BPE merges");
    v.merges.reserve(merges.items.size());
    for (const Value& m : merges.items) v.merges.push_back(m.as_string());
  }

  // Defaults as llama.cpp has them, then what the file says.
  if (v.model == "llama") {
    v.bos_id = 1;
    v.eos_id = 2;
    v.unk_id = 0;
    v.add_bos = true;
    v.add_space_prefix = true;
  } else {
    v.add_bos = is_llama3_pre(v.pre);
    v.add_space_prefix = false;
  }
  read_token_id(file, "tokenizer.ggml.bos_token_id", n, v.bos_id);
  read_token_id(file, "tokenizer.ggml.eos_token_id", n, v.eos_id);
  read_token_id(file, "tokenizer.ggml.eot_token_id", n, v.eot_id);
  read_token_id(file, "tokenizer.ggml.eom_token_id", n, v.eom_id);
  read_token_id(file, "tokenizer.ggml.unknown_token_id", n, v.unk_id);
  read_token_id(file, "tokenizer.ggml.padding_token_id", n, v.pad_id);
  // Defaults that do not fit a small vocabulary are dropped rather than kept dangling.
  for (TokenId* id : {&v.bos_id, &v.eos_id, &v.unk_id}) {
    if (*id >= n) *id = kNoToken;
  }
  v.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(v.add_bos);
  v.add_eos = file.get_bool("tokenizer.ggml.add_eos_token").value_or(v.add_eos);
  v.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(v.add_space_prefix);
  v.chat_template = file.get_string("tokenizer.chat_template").value_or("");

  std::string name = file.get_string("general.name").value_or("");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) apply_phi3_strip(v);

  v.validate(file.path());
  return v;
}

void Vocab::validate(const std::string& origin) const {
  auto fail = [&](const std::string& problem) { throw InputError(origin + ": vocabulary: " + problem); };
  if (model == "no_vocab") return;
  if (model != "llama" && model != "gpt2") fail("unknown tokenizer model '" + model + "'");
  if (tokens.empty()) fail("no tokens");
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) fail("too many tokens");
  const auto n = static_cast<int32_t>(tokens.size());
  if (!scores.empty() && scores.size() != tokens.size()) {
    fail(std::to_string(scores.size()) + " scores for " + std::to_string(n) + " tokens");
  }
  if (!token_types.empty() && token_types.size() != tokens.size()) {
    fail(std::to_string(token_types.size()) + " token types for " + std::to_string(n) + " tokens");
  }
  for (size_t i = 0; i < token_types.size(); ++i) {
    if (token_types[i] < 0 || token_types[i] > 6) {
      fail("token " + std::to_string(i) + " has unknown type " + std::to_string(token_types[i]));
    }
  }
  if (!strip.empty() && strip.size() != tokens.size()) fail("strip flags do not match the tokens");
  if (model == "gpt2" && merges.empty()) fail("a gpt2 (BPE) vocabulary needs merges");
  const std::pair<const char*, TokenId> ids[] = {{"bos", bos_id}, {"eos", eos_id}, {"eot", eot_id},
                                                 {"eom", eom_id}, {"unk", unk_id}, {"pad", pad_id}};
  for (const auto& [what, id] : ids) {
    if (id != kNoToken && (id < 0 || id >= n)) fail(std::string(what) + " id " + std::to_string(id) + " out of range");
  }
  if (add_bos && bos_id == kNoToken) fail("add_bos is set but there is no BOS token");
  if (add_eos && eos_id == kNoToken) fail("add_eos is set but there is no EOS token");
}

void write_vocab(const Vocab& v, gguf::GgufWriter& w) {
  w.set("tokenizer.ggml.model", Value::string(v.model));
  if (v.model == "no_vocab") return;
  w.set("tokenizer.ggml.pre", Value::string(v.pre));
  w.set("tokenizer.ggml.tokens", Value::string_array(v.tokens));
  if (!v.scores.empty()) w.set("tokenizer.ggml.scores", Value::f32_array(v.scores));
  if (!v.token_types.empty()) w.set("tokenizer.ggml.token_type", Value::i32_array(v.token_types));
  if (!v.merges.empty()) w.set("tokenizer.ggml.merges", Value::string_array(v.merges));
  const std::pair<const char*, TokenId> ids[] = {
      {"tokenizer.ggml.bos_token_id", v.bos_id},     {"tokenizer.ggml.eos_token_id", v.eos_id},
      {"tokenizer.ggml.eot_token_id", v.eot_id},     {"tokenizer.ggml.eom_token_id", v.eom_id},
      {"tokenizer.ggml.unknown_token_id", v.unk_id}, {"tokenizer.ggml.padding_token_id", v.pad_id}};
  for (const auto& [key, id] : ids) {
    if (id != kNoToken) w.set(key, Value::u32(static_cast<uint32_t>(id)));
  }
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(v.add_bos));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(v.add_eos));
  w.set("tokenizer.ggml.add_space_prefix", Value::boolean(v.add_space_prefix));
  if (!v.chat_template.empty()) w.set("tokenizer.chat_template", Value::string(v.chat_template));
}

}  // namespace greta::tokenizer
