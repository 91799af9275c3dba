#pragma once
// The tensor element types greta reads, with ggml's type ids and block geometry.
#include <cstdint>
#include <optional>
#include <string_view>

namespace greta {

// Values are ggml's type ids as stored in GGUF tensor infos.
enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

struct TypeTraits {
  std::string_view name;  // ggml's spelling: "f32", "q4_K", ...
  int64_t block_size;     // elements per block
  int64_t block_bytes;    // bytes per block
};

// Traits of a supported type.
const TypeTraits& type_traits(TensorType type);

// The supported type with this ggml id, or nullopt (unknown or unsupported id).
std::optional<TensorType> type_from_id(uint32_t id);

// The name ggml gives a type id, including ones greta does not support ("q4_1"), or "" if unknown.
std::string_view ggml_type_name(uint32_t id);

// Case-insensitive lookup by name ("q4_k", "Q4_K", "bf16").
std::optional<TensorType> type_from_name(std::string_view name);

// Bytes of one row of n elements; n must be a multiple of the block size.
int64_t row_bytes(TensorType type, int64_t n);

}  // namespace greta
