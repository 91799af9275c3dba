#pragma once
// A bounds-checked little-endian reader over an untrusted byte image.
//
// Field names are passed as callables so that the (rarely needed) error text is only
// built when something is wrong: tokenizer arrays hold hundreds of thousands of values.
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "gguf/gguf_file.h"

namespace greta::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

class ByteCursor {
 public:
  ByteCursor(std::span<const uint8_t> bytes, const std::string& file) : bytes_(bytes), file_(file) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const std::string& field, uint64_t offset, const std::string& problem) const {
    throw GgufError(file_, field, offset, problem);
  }

  template <class T, class Field>
  T read(const Field& field) {
    require(sizeof(T), field);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // uint64 length followed by that many bytes.
  template <class Field>
  std::string read_string(const Field& field) {
    const uint64_t at = pos_;
    const uint64_t n = read<uint64_t>(field);
    if (n > remaining())
      fail(field(), at,
           "string length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
               " bytes left in the file");
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(n));
    pos_ += n;
    return s;
  }

 private:
  template <class Field>
  void require(uint64_t n, const Field& field) const {
    if (n > remaining())
      fail(field(), pos_,
           "needs " + std::to_string(n) + " bytes but the file ends at byte " + std::to_string(bytes_.size()));
  }

  std::span<const uint8_t> bytes_;
  const std::string& file_;
  uint64_t pos_ = 0;
};

}  // namespace greta::gguf
