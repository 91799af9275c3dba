#pragma once
// Reading GGUF files (versions 2 and 3).
//
// Every byte is untrusted: open() checks magic, version, counts, string lengths, value
// types, nesting, tensor dimensions, type ids, offsets, alignment and that every tensor
// lies inside the file, with overflow-safe arithmetic, before anything is used. Any
// problem throws GgufError naming the file, the field and the byte offset.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greta/error.h"
#include "greta/tensor_type.h"
#include "gguf/gguf_value.h"

namespace greta::gguf {

// A malformed or unsupported file. what() reads "FILE: FIELD at byte OFFSET: problem".
class GgufError : public InputError {
 public:
  GgufError(const std::string& file, const std::string& field, uint64_t offset, const std::string& problem);
  const std::string& field() const { return field_; }
  uint64_t offset() const { return offset_; }

 private:
  std::string field_;
  uint64_t offset_;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  TensorType type = TensorType::F32;
  std::vector<int64_t> shape;  // ggml order: shape[0] is the contiguous (row) dimension
  uint64_t offset = 0;         // from the start of the data section
  uint64_t n_bytes = 0;
  int64_t n_elements() const;
  int64_t n_rows() const { return shape.empty() ? 0 : n_elements() / shape[0]; }
};

class GgufFile {
 public:
  // Memory-maps and validates the file.
  static GgufFile open(const std::string& path);
  // Validates an in-memory image (the built-in model, tests). `name` appears in errors.
  static GgufFile from_bytes(std::vector<uint8_t> bytes, std::string name);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& path() const;
  uint32_t version() const;
  uint64_t alignment() const;     // general.alignment, default 32
  uint64_t data_offset() const;   // absolute offset of the tensor data section
  uint64_t file_size() const;

  const std::vector<KeyValue>& metadata() const;
  const Value* find(std::string_view key) const;

  // Typed getters: nullopt when the key is absent; GgufError when present with the wrong type.
  std::optional<uint64_t> get_uint(std::string_view key) const;   // any non-negative integer
  std::optional<int64_t> get_int(std::string_view key) const;     // any integer
  std::optional<double> get_float(std::string_view key) const;    // float or integer
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  const Array* get_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo* find_tensor(std::string_view name) const;
  // Pointer to a tensor's bytes (inside the mapping, alignment-respecting).
  const uint8_t* tensor_data(const TensorInfo& t) const;

  // Builds a GgufError for this file (for callers that validate semantics, e.g. shapes).
  GgufError error(const std::string& field, uint64_t offset, const std::string& problem) const;

 private:
  struct Impl;
  explicit GgufFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Human-readable summary for `greta inspect`: metadata (arrays longer than 8 items
// summarised), a tensor table (name, type, shape, bytes) and totals.
std::string describe(const GgufFile& file);

}  // namespace greta::gguf
