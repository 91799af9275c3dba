#pragma once
// Helpers for the GGUF tests: a raw byte builder for hand-made (and broken) files, and
// a small valid file made with GgufWriter.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace greta::gguf::test {

// Appends little-endian GGUF encodings to a byte vector.
struct RawGguf {
  std::vector<uint8_t> bytes;

  template <class T>
  RawGguf& put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
    return *this;
  }
  RawGguf& u8(uint8_t v) { return put(v); }
  RawGguf& u32(uint32_t v) { return put(v); }
  RawGguf& u64(uint64_t v) { return put(v); }
  RawGguf& str(std::string_view s) {
    u64(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  RawGguf& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return u32(0x46554747).u32(version).u64(n_tensors).u64(n_kv);
  }
  RawGguf& kv_string(std::string_view key, std::string_view value) { return str(key).u32(8).str(value); }
  RawGguf& kv_u32(std::string_view key, uint32_t value) { return str(key).u32(4).u32(value); }
  RawGguf& tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  RawGguf& pad(uint64_t alignment = 32) {
    while (bytes.size() % alignment) bytes.push_back(0);
    return *this;
  }
  RawGguf& zeros(size_t n) {
    bytes.insert(bytes.end(), n, 0);
    return *this;
  }
  uint64_t pos() const { return bytes.size(); }
};

// A small valid file: three metadata keys and two tensors whose sizes are multiples of the
// alignment, so the last tensor ends exactly at the end of the file (any truncation breaks it).
inline std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.set("general.architecture", Value::string("llama"));
  w.set("tokenizer.ggml.tokens", Value::string_array({"a", "bb", "ccc"}));
  w.set("llama.block_count", Value::u32(2));
  w.add_tensor("a", TensorType::F32, {8}, [](std::span<uint8_t> d) { std::memset(d.data(), 1, d.size()); });
  w.add_tensor("b", TensorType::F16, {16, 2}, [](std::span<uint8_t> d) { std::memset(d.data(), 2, d.size()); });
  return w.write_bytes();
}

// Expects from_bytes to throw GgufError whose field contains `field`, at `offset`, with a
// message containing `problem`.
inline void expect_gguf_error(const std::vector<uint8_t>& bytes, const std::string& field, uint64_t offset,
                              const std::string& problem) {
  try {
    GgufFile::from_bytes(bytes, "bad.gguf");
    ADD_FAILURE() << "no error; expected " << field << ": " << problem;
  } catch (const GgufError& e) {
    EXPECT_NE(e.field().find(field), std::string::npos) << e.what();
    EXPECT_EQ(e.offset(), offset) << e.what();
    EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("bad.gguf: ", 0), 0u) << e.what();
  }
}

}  // namespace greta::gguf::test
