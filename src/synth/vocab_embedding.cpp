#include "synth/vocab_embedding.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include "greta/error.h"
#include "tokenizer/vocab.h"

namespace greta::synth {
namespace {

// A SentencePiece model is a protobuf whose first field (the pieces, field 1, length-
// delimited) starts with the byte 0x0A; a tiktoken file starts with base64 text.
bool looks_like_sentencepiece(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char first = 0;
  return in.get(first) && first == 0x0A;
}

}  // namespace

VocabEmbedding load_vocab_embedding(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError("--vocab " + path + ": no such file");

  // tokenizer.json is Hugging Face's format (with tokenizer_config.json beside it for the
  // chat template and special-token settings); anything else is read as a tiktoken
  // tokenizer.model, whose builder reports a file it cannot parse.
  auto vocab = std::make_shared<tokenizer::Vocab>();
  if (fs::path(path).extension() == ".json") {
    const fs::path config = fs::path(path).parent_path() / "tokenizer_config.json";
    *vocab = tokenizer::vocab_from_hf_tokenizer(path, fs::is_regular_file(config, ec) ? config.string() : "");
  } else {
    if (looks_like_sentencepiece(path))
      throw InputError("--vocab " + path + ": this is a SentencePiece model (protobuf); give the model's "
                       "tokenizer.json instead (tiktoken tokenizer.model files are read directly)");
    *vocab = tokenizer::vocab_from_tiktoken(path);
  }
  if (vocab->size() <= 0) throw InputError("--vocab " + path + ": the vocabulary is empty");
  // Shared, not copied: the Llama 3 vocabulary holds hundreds of thousands of strings.
  return {vocab->size(), [vocab](gguf::GgufWriter& w) { tokenizer::write_vocab(*vocab, w); }};
}

}  // namespace greta::synth
