#include "synth/vocab_embedding.h"

#include "greta/error.h"

namespace greta::synth {

VocabEmbedding load_vocab_embedding(const std::string& path) {
  // The vocabulary builders live in the tokenizer module; until they are available this
  // build cannot embed one, and says so rather than writing a model without it.
  throw InputError("--vocab " + path + ": embedding a vocabulary is not supported by this build yet");
}

}  // namespace greta::synth
