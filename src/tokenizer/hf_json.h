#pragma once
// Pieces of Hugging Face tokenizer files shared by the vocabulary builders.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/vocab.h"

namespace greta::tokenizer {

nlohmann::json read_json_file(const std::string& path);

struct AddedToken {
  TokenId id;
  std::string content;
  bool special;
  uint8_t strip;  // StripFlags
};
// tokenizer.json's "added_tokens".
std::vector<AddedToken> read_added_tokens(const nlohmann::json& tokenizer_json, const std::string& path);

// Writes the added tokens into the vocabulary (growing it to fit): special ones as
// CONTROL, others as USER_DEFINED; ids left empty become UNUSED "[PAD<id>]" tokens.
void place_added_tokens(Vocab& vocab, const std::vector<AddedToken>& added);

// Sets bos/eos/eot ids, add_bos/add_eos and the chat template from tokenizer_config.json
// (path may be "": then from well-known token texts only). add_bos defaults to true for
// Llama 3 vocabularies, as llama.cpp decides.
void apply_tokenizer_config(Vocab& vocab, const std::string& config_path);

}  // namespace greta::tokenizer
