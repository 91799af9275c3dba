#pragma once
// A GGUF metadata value: one of the 13 GGUF value types, arrays nested to any depth.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace greta::gguf {

// GGUF's value type ids.
enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

const char* value_type_name(ValueType t);

struct Value;

struct Array {
  ValueType elem_type = ValueType::U8;
  std::vector<Value> items;
};

struct Value {
  ValueType type = ValueType::U8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> data;

  // Constructors for the common cases (the writer and tests use them).
  static Value u32(uint32_t v) { return {ValueType::U32, uint64_t{v}}; }
  static Value i32(int32_t v) { return {ValueType::I32, int64_t{v}}; }
  static Value u64(uint64_t v) { return {ValueType::U64, v}; }
  static Value f32(float v) { return {ValueType::F32, double{v}}; }
  static Value boolean(bool v) { return {ValueType::BOOL, v}; }
  static Value string(std::string v) { return {ValueType::STRING, std::move(v)}; }
  static Value array(ValueType elem, std::vector<Value> items) { return {ValueType::ARRAY, Array{elem, std::move(items)}}; }
  static Value string_array(const std::vector<std::string>& v);
  static Value f32_array(const std::vector<float>& v);
  static Value i32_array(const std::vector<int32_t>& v);

  bool is_integer() const;  // any of the 8 integer types
  bool is_float() const;    // F32 or F64
  // Accessors: nullopt-free; callers check the type first (the typed getters on GgufFile do).
  uint64_t as_u64() const;  // unsigned integer types
  int64_t as_i64() const;   // any integer type (unsigned converted)
  double as_f64() const;    // float types, or integer types converted
  const std::string& as_string() const;
  const Array& as_array() const;
};

}  // namespace greta::gguf
