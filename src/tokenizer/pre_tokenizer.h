#pragma once
// Splits text into words before byte-level BPE, with the regex a vocabulary's
// `tokenizer.ggml.pre` names, matched by PCRE2 (UTF + Unicode properties, JIT).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace greta::tokenizer {

class PreTokenizer {
 public:
  // Throws InputError for a name it does not know. Known: "default", "gpt2", "gpt-2"
  // (the GPT-2 regex) and "llama-bpe", "llama3", "llama-v3" (the Llama 3 regex).
  explicit PreTokenizer(const std::string& pre_name);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Appends the words of `text` in order; they cover the text exactly (text the regex
  // does not match becomes a word of its own, as in Hugging Face's "Isolated" split).
  // Invalid UTF-8 bytes are words of one byte each.
  void split(std::string_view text, std::vector<std::string_view>& words) const;

  static const char* regex_for(const std::string& pre_name);  // nullptr when unknown

 private:
  void split_valid(std::string_view text, std::vector<std::string_view>& words) const;
  struct Regex;
  std::unique_ptr<Regex> regex_;
};

}  // namespace greta::tokenizer
