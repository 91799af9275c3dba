#include "tokenizer/unicode_bytes.h"

#include <array>

namespace greta::tokenizer {

namespace {

// Decodes one well-formed UTF-8 sequence at text[pos]; returns its length, 0 if invalid
// (overlong forms, surrogates and values above U+10FFFF are invalid), or -1 if the
// text ends before the sequence does but what is there could still be valid.
int decode_one(std::string_view text, size_t pos, uint32_t* codepoint) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  if (b0 < 0x80) {
    *codepoint = b0;
    return 1;
  }
  int len;
  uint32_t cp;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2; cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3; cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4; cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int i = 1; i < len; ++i) {
    if (pos + i >= text.size()) return -1;
    const auto b = static_cast<uint8_t>(text[pos + i]);
    const uint8_t min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  *codepoint = cp;
  return len;
}

struct ByteLevelTables {
  std::array<std::string, 256> encoded;
  std::array<int16_t, 0x144> decoded;  // code point -> byte, -1 when unmapped

  ByteLevelTables() {
    decoded.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + next++);
      append_utf8(encoded[b], cp);
      decoded[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

size_t complete_utf8_prefix(std::string_view bytes) {
  // Only the last three bytes can belong to an unfinished sequence.
  const size_t n = bytes.size();
  const size_t start = n > 3 ? n - 3 : 0;
  for (size_t pos = start; pos < n; ++pos) {
    const auto b = static_cast<uint8_t>(bytes[pos]);
    if (b < 0xC2 || b > 0xF4) continue;  // not a lead byte
    uint32_t cp;
    if (decode_one(bytes, pos, &cp) == -1) return pos;
  }
  return n;
}

bool is_valid_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t cp;
    const int len = decode_one(text, pos, &cp);
    if (len <= 0) return false;
    pos += static_cast<size_t>(len);
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

const std::string& byte_to_unicode(uint8_t byte) { return tables().encoded[byte]; }

void append_byte_level(std::string& out, std::string_view bytes) {
  const auto& enc = tables().encoded;
  for (char c : bytes) out += enc[static_cast<uint8_t>(c)];
}

std::string to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  append_byte_level(out, bytes);
  return out;
}

bool from_byte_level(std::string_view text, std::string& out) {
  const auto& dec = tables().decoded;
  bool ok = true;
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t cp = 0;
    const int len = decode_one(text, pos, &cp);
    if (len <= 0) {  // not UTF-8 at all: keep the byte
      out += text[pos++];
      ok = false;
      continue;
    }
    if (cp < dec.size() && dec[cp] >= 0) {
      out += static_cast<char>(dec[cp]);
    } else {
      out.append(text.substr(pos, static_cast<size_t>(len)));
      ok = false;
    }
    pos += static_cast<size_t>(len);
  }
  return ok;
}

}  // namespace greta::tokenizer
