#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pre_tokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <stdexcept>

#include "greta/error.h"
#include "tokenizer/unicode_bytes.h"

namespace greta::tokenizer {

namespace {

// GPT-2's split regex, with the final \s+ that the published pattern has.
constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Llama 3's split regex. The case-insensitive contractions are spelled out as llama.cpp
// does ('[sS] ...): PCRE2's caseless matching would also fold characters like U+017F
// (long s) into 's', which neither llama.cpp nor tiktoken do.
constexpr const char* kLlama3Regex =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

const char* PreTokenizer::regex_for(const std::string& name) {
  if (name == "default" || name == "gpt2" || name == "gpt-2") return kGpt2Regex;
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return kLlama3Regex;
  return nullptr;
}

PreTokenizer::PreTokenizer(const std::string& pre_name) : regex_(std::make_unique<Regex>()) {
  const char* pattern = regex_for(pre_name);
  if (!pattern) {
    throw InputError("tokenizer.ggml.pre: unknown pre-tokenizer '" + pre_name +
                     "' (known: default, gpt2, gpt-2, llama-bpe, llama3, llama-v3)");
  }
  int error = 0;
  PCRE2_SIZE offset = 0;
  regex_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                               &error, &offset, nullptr);
  if (!regex_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw std::logic_error(std::string("pre-tokenizer regex does not compile: ") + reinterpret_cast<char*>(message));
  }
  // Without JIT (unsupported platform) pcre2_match interprets the pattern: slower, same result.
  pcre2_jit_compile(regex_->code, PCRE2_JIT_COMPLETE);
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& words) const {
  if (is_valid_utf8(text)) {
    split_valid(text, words);
    return;
  }
  // PCRE2 in UTF mode refuses malformed input: split the valid runs, and give each
  // invalid byte a word of its own so that byte-level BPE still encodes it losslessly.
  size_t run_start = 0, pos = 0;
  while (pos < text.size()) {
    const size_t len = std::min(utf8_sequence_length(static_cast<uint8_t>(text[pos])), text.size() - pos);
    if (is_valid_utf8(text.substr(pos, len))) {
      pos += len;
      continue;
    }
    if (pos > run_start) split_valid(text.substr(run_start, pos - run_start), words);
    words.push_back(text.substr(pos, 1));
    ++pos;
    run_start = pos;
  }
  if (pos > run_start) split_valid(text.substr(run_start, pos - run_start), words);
}

void PreTokenizer::split_valid(std::string_view text, std::vector<std::string_view>& words) const {
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(regex_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;  // end of the last word
  size_t search = 0;
  while (search < text.size()) {
    int rc = pcre2_match(regex_->code, subject, text.size(), search, PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // a very long run of whitespace: interpret instead
      rc = pcre2_match(regex_->code, subject, text.size(), search, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, match, nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(match);
      throw std::runtime_error("pre-tokenizer regex match failed with PCRE2 error " + std::to_string(rc));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
    const size_t begin = ov[0], end = ov[1];
    if (begin > pos) words.push_back(text.substr(pos, begin - pos));
    if (end > begin) {
      words.push_back(text.substr(begin, end - begin));
      pos = search = end;
    } else {  // an empty match (none of our patterns has one): step over one character
      search = begin + utf8_sequence_length(static_cast<uint8_t>(text[begin]));
    }
  }
  if (pos < text.size()) words.push_back(text.substr(pos));
  pcre2_match_data_free(match);
}

}  // namespace greta::tokenizer
