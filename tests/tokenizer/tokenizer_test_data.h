#pragma once
// Shared fixtures for the tokenizer tests: llama.cpp's tokenizer test vectors and the
// Llama 3 vocabularies (built once per test binary: the builders take a moment).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../test_support.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace greta::tokenizer::test {

using greta::test::read_file;

struct VectorCase {
  std::string text;
  std::vector<TokenId> ids;
};

// `.inp` holds the strings, each followed by "\n__ggml_vocab_test__\n"; `.out` one line of
// space-separated ids per string.
inline std::vector<VectorCase> read_vectors(const std::string& name) {
  const std::string base = greta::test::shared_path("tokenizers/vectors/" + name);
  const std::string inp = read_file(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<VectorCase> cases;
  size_t pos = 0;
  while (pos < inp.size()) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      cases.push_back({inp.substr(pos), {}});
      break;
    }
    cases.push_back({inp.substr(pos, next - pos), {}});
    pos = next + sep.size();
  }
  std::ifstream out(base + ".out");
  std::string line;
  size_t i = 0;
  while (std::getline(out, line) && i < cases.size()) {
    std::istringstream ss(line);
    TokenId id;
    while (ss >> id) cases[i].ids.push_back(id);
    ++i;
  }
  return cases;
}

inline Tokenizer gguf_tokenizer(const std::string& shared_rel) {
  return Tokenizer(Vocab::from_gguf(gguf::GgufFile::open(greta::test::shared_path(shared_rel))));
}

inline const Vocab& llama3_hf_vocab() {
  static const Vocab v = vocab_from_hf_tokenizer(greta::test::shared_path("tokenizers/llama3/tokenizer.json"),
                                                 greta::test::shared_path("tokenizers/llama3/tokenizer_config.json"));
  return v;
}
inline const Vocab& llama3_tiktoken_vocab() {
  static const Vocab v = vocab_from_tiktoken(greta::test::shared_path("tokenizers/llama3/tokenizer.model"));
  return v;
}
inline const Tokenizer& llama3_hf() {
  static const Tokenizer t(llama3_hf_vocab());
  return t;
}
inline const Tokenizer& llama3_tiktoken() {
  static const Tokenizer t(llama3_tiktoken_vocab());
  return t;
}

inline std::string ids_to_string(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return s;
}

}  // namespace greta::tokenizer::test
