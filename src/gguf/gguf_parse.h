#pragma once
// Parsing and validating a complete GGUF image (header, metadata, tensor infos, layout).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"

namespace greta::gguf {

struct ParsedGguf {
  uint32_t version = 0;
  uint64_t alignment = 0;
  uint64_t data_offset = 0;
  std::vector<KeyValue> metadata;
  std::vector<uint64_t> value_offsets;  // absolute offset of each metadata value (for getter errors)
  std::vector<TensorInfo> tensors;
};

// Throws GgufError naming `file`, the field and the byte offset of the first problem.
ParsedGguf parse_gguf(std::span<const uint8_t> bytes, const std::string& file);

}  // namespace greta::gguf
