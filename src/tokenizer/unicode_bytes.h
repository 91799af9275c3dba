#pragma once
// UTF-8 helpers and GPT-2's byte <-> unicode mapping used by byte-level BPE vocabularies.
#include <cstdint>
#include <string>
#include <string_view>

namespace greta::tokenizer {

// Length of the UTF-8 sequence that starts with `lead`, judged by its high bits alone
// (continuation and invalid bytes count as 1), as llama.cpp splits text into symbols.
inline size_t utf8_sequence_length(uint8_t lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

// Length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence
// that could still be completed by more bytes. Invalid bytes count as complete.
size_t complete_utf8_prefix(std::string_view bytes);

// True when `text` is entirely well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

void append_utf8(std::string& out, uint32_t codepoint);

// GPT-2's reversible mapping of the 256 byte values onto printable code points
// (printable ASCII and Latin-1 map to themselves, the rest to U+0100...).
const std::string& byte_to_unicode(uint8_t byte);  // as UTF-8
// Appends the mapped form of every byte of `bytes`.
void append_byte_level(std::string& out, std::string_view bytes);
std::string to_byte_level(std::string_view bytes);
// Inverse of to_byte_level; false if some character is not in the mapping (then `out`
// holds the bytes decoded so far plus the unmapped characters copied as they were).
bool from_byte_level(std::string_view text, std::string& out);

}  // namespace greta::tokenizer
