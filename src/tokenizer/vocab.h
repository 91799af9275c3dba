#pragma once
// The vocabulary of a model as GGUF stores it under `tokenizer.ggml.*`: a plain value
// type that the tokenizers are built from and that synthetic-model writers copy out.
#include <cstdint>
#include <string>
#include <vector>

namespace greta::gguf {
class GgufFile;
class GgufWriter;
}  // namespace greta::gguf

namespace greta::tokenizer {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// ggml's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
};

// Whitespace that an added token swallows next to it when it is split out of text
// (Hugging Face's lstrip/rstrip). GGUF has no key for it; see Vocab::strip.
enum StripFlags : uint8_t { kStripNone = 0, kStripLeft = 1, kStripRight = 2 };

struct Vocab {
  std::string model = "llama";  // "llama" (SentencePiece), "gpt2" (byte-level BPE), "no_vocab"
  std::string pre = "default";  // BPE pre-tokenizer: "default", "gpt-2", "llama-bpe", ...
  std::vector<std::string> tokens;
  std::vector<float> scores;         // SPM merge scores; empty means all 0
  std::vector<int32_t> token_types;  // TokenType values; empty means all NORMAL
  std::vector<std::string> merges;   // BPE: "left right", rank = index
  TokenId bos_id = kNoToken;
  TokenId eos_id = kNoToken;
  TokenId eot_id = kNoToken;
  TokenId eom_id = kNoToken;
  TokenId unk_id = kNoToken;
  TokenId pad_id = kNoToken;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = true;  // SPM: prepend "▁" to the text (SentencePiece's dummy prefix)
  std::string chat_template;     // tokenizer.chat_template (Jinja text), may be empty
  // Per-token StripFlags, empty when no token strips. Not stored in GGUF: filled from
  // tokenizer.json's added_tokens, or by from_gguf for Phi-3 files the way llama.cpp does.
  std::vector<uint8_t> strip;

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }

  // Reads tokenizer.ggml.* and tokenizer.chat_template. Throws InputError when the
  // vocabulary is missing or inconsistent (array lengths differ, ids out of range,
  // unknown tokenizer model, a gpt2 vocabulary without merges).
  static Vocab from_gguf(const gguf::GgufFile& file);

  // Throws InputError naming `origin` if the fields contradict each other.
  void validate(const std::string& origin) const;
};

// Writes every field from_gguf reads (except `strip`, which GGUF cannot carry).
void write_vocab(const Vocab& vocab, gguf::GgufWriter& writer);

// Builds a byte-level BPE vocabulary (model "gpt2") from a Hugging Face tokenizer.json;
// tokenizer_config.json, when given (may be ""), supplies the chat template, the
// bos/eos tokens and add_bos/add_eos. The pre-tokenizer is recognised from its regex:
// the Llama 3 split regex gives "llama-bpe", a plain ByteLevel pre-tokenizer "gpt-2";
// anything else is an InputError.
Vocab vocab_from_hf_tokenizer(const std::string& tokenizer_json_path, const std::string& tokenizer_config_path = "");

// Builds a Llama 3 vocabulary from a tiktoken file (base64 token, space, rank per line).
// Special tokens (ids from the number of ranks on) come from the `added_tokens` of a
// tokenizer.json in the same directory when there is one, else from the standard Llama 3
// list (<|begin_of_text|>, <|end_of_text|>, <|reserved_special_token_0..3|>,
// <|start_header_id|>, <|end_header_id|>, <|reserved_special_token_4|>, <|eot_id|>,
// <|reserved_special_token_5..250|>). A tokenizer_config.json beside it supplies the chat
// template. Merges are recovered by running BPE on each token's bytes with only the
// lower-ranked tokens: the two parts it ends with form the merge of that rank.
Vocab vocab_from_tiktoken(const std::string& tiktoken_path);

}  // namespace greta::tokenizer
