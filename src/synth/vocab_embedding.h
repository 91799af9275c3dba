#pragma once
// Embedding a real vocabulary (tokenizer.json or a tiktoken/SentencePiece tokenizer.model)
// in a synthetic model, so text prompts and chat templates work with it.
#include <cstdint>
#include <functional>
#include <string>

#include "gguf/gguf_writer.h"

namespace greta::synth {

struct VocabEmbedding {
  int64_t size = 0;                                   // number of tokens: the model's vocab
  std::function<void(gguf::GgufWriter&)> write;       // sets the tokenizer.ggml.* metadata
};

// Reads the vocabulary file. Throws InputError when it cannot be read or understood.
VocabEmbedding load_vocab_embedding(const std::string& path);

}  // namespace greta::synth
