#include "gguf/gguf_parse.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "gguf/byte_cursor.h"
#include "gguf/gguf_format.h"
#include "gguf/text_escape.h"

namespace greta::gguf {
namespace {

using FieldFn = std::function<std::string()>;

// Fewest bytes any encoded value of this type occupies; used to bound counts by the bytes
// actually left in the file before anything is allocated.
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    case ValueType::STRING: return 8;      // length
    case ValueType::ARRAY: return 4 + 8;   // element type + length
  }
  return 1;
}

constexpr uint64_t kMinKvBytes = 8 + 4 + 1;               // key length, value type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, one dim, type, offset

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08" PRIx32, v);
  return buf;
}

class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, const std::string& file) : cur_(bytes, file) {}

  ParsedGguf parse() {
    read_header();
    read_metadata();
    resolve_alignment();
    read_tensor_infos();
    check_layout();
    return std::move(out_);
  }

 private:
  static FieldFn literal(const char* s) {
    return [s] { return std::string(s); };
  }

  void read_header() {
    const uint32_t magic = cur_.read<uint32_t>(literal("magic"));
    if (magic != format::kMagic)
      cur_.fail("magic", 0, "not a GGUF file (magic " + hex32(magic) + ", expected \"GGUF\")");
    const uint32_t version = cur_.read<uint32_t>(literal("version"));
    if (version == 1) cur_.fail("version", 4, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (version == 0x02000000 || version == 0x03000000)
      cur_.fail("version", 4, "big-endian GGUF files are not supported");
    if (version != 2 && version != 3)
      cur_.fail("version", 4, "unsupported GGUF version " + std::to_string(version) + " (expected 2 or 3)");
    out_.version = version;

    const uint64_t tensors_at = cur_.pos();
    n_tensors_ = cur_.read<uint64_t>(literal("tensor_count"));
    const uint64_t kvs_at = cur_.pos();
    n_kv_ = cur_.read<uint64_t>(literal("metadata_kv_count"));
    check_count(n_tensors_, kMinTensorInfoBytes, "tensor_count", tensors_at, "tensor infos");
    check_count(n_kv_, kMinKvBytes, "metadata_kv_count", kvs_at, "key-value pairs");
  }

  void check_count(uint64_t n, uint64_t min_bytes, const char* field, uint64_t at, const char* what) {
    if (n > cur_.remaining() / min_bytes)
      cur_.fail(field, at,
                std::to_string(n) + " " + what + " cannot fit in the " + std::to_string(cur_.remaining()) +
                    " bytes left (each needs at least " + std::to_string(min_bytes) + ")");
  }

  ValueType read_value_type(const FieldFn& field) {
    const uint64_t at = cur_.pos();
    const uint32_t raw = cur_.read<uint32_t>(field);
    if (raw > static_cast<uint32_t>(ValueType::F64))
      cur_.fail(field(), at, "unknown value type id " + std::to_string(raw));
    return static_cast<ValueType>(raw);
  }

  void read_metadata() {
    out_.metadata.reserve(n_kv_);
    out_.value_offsets.reserve(n_kv_);
    std::unordered_map<std::string, uint64_t> seen;
    for (uint64_t i = 0; i < n_kv_; ++i) {
      const std::string prefix = "metadata[" + std::to_string(i) + "]";
      const uint64_t key_at = cur_.pos();
      std::string key = cur_.read_string([&] { return prefix + " key"; });
      const std::string named = prefix + " " + quote(key);
      if (auto [it, fresh] = seen.emplace(key, i); !fresh)
        cur_.fail(prefix + " key", key_at,
                  "duplicate key " + quote(key) + " (first defined by metadata[" + std::to_string(it->second) + "])");
      const ValueType type = read_value_type([&] { return named + " type"; });
      out_.value_offsets.push_back(cur_.pos());
      Value value = read_value(type, [&] { return named + " value"; }, 0);
      out_.metadata.push_back({std::move(key), std::move(value)});
    }
  }

  Value read_value(ValueType t, const FieldFn& field, int depth) {
    switch (t) {
      case ValueType::U8: return {t, uint64_t{cur_.read<uint8_t>(field)}};
      case ValueType::I8: return {t, int64_t{cur_.read<int8_t>(field)}};
      case ValueType::U16: return {t, uint64_t{cur_.read<uint16_t>(field)}};
      case ValueType::I16: return {t, int64_t{cur_.read<int16_t>(field)}};
      case ValueType::U32: return {t, uint64_t{cur_.read<uint32_t>(field)}};
      case ValueType::I32: return {t, int64_t{cur_.read<int32_t>(field)}};
      case ValueType::U64: return {t, cur_.read<uint64_t>(field)};
      case ValueType::I64: return {t, cur_.read<int64_t>(field)};
      case ValueType::F32: return {t, double{cur_.read<float>(field)}};
      case ValueType::F64: return {t, cur_.read<double>(field)};
      case ValueType::BOOL: {
        const uint64_t at = cur_.pos();
        const uint8_t b = cur_.read<uint8_t>(field);
        if (b > 1) cur_.fail(field(), at, "bool value " + std::to_string(b) + " is neither 0 nor 1");
        return {t, b != 0};
      }
      case ValueType::STRING: return {t, cur_.read_string(field)};
      case ValueType::ARRAY: return {t, read_array(field, depth + 1)};
    }
    cur_.fail(field(), cur_.pos(), "unknown value type");  // unreachable: type ids are checked on read
  }

  Array read_array(const FieldFn& field, int depth) {
    if (depth > format::kMaxArrayDepth)
      cur_.fail(field(), cur_.pos(),
                "arrays nested deeper than " + std::to_string(format::kMaxArrayDepth) + " levels");
    Array array;
    array.elem_type = read_value_type([&] { return field() + " array type"; });
    const uint64_t len_at = cur_.pos();
    const uint64_t n = cur_.read<uint64_t>([&] { return field() + " array length"; });
    const uint64_t min_bytes = min_encoded_size(array.elem_type);
    if (n > cur_.remaining() / min_bytes)
      cur_.fail(field() + " array length", len_at,
                "array of " + std::to_string(n) + " " + value_type_name(array.elem_type) +
                    " values cannot fit in the " + std::to_string(cur_.remaining()) + " bytes left");
    array.items.reserve(n);
    uint64_t i = 0;
    const FieldFn item_field = [&] { return field() + "[" + std::to_string(i) + "]"; };
    for (; i < n; ++i) array.items.push_back(read_value(array.elem_type, item_field, depth));
    return array;
  }

  void resolve_alignment() {
    out_.alignment = format::kDefaultAlignment;
    for (size_t i = 0; i < out_.metadata.size(); ++i) {
      const auto& kv = out_.metadata[i];
      if (kv.key != "general.alignment") continue;
      const std::string field = "metadata[" + std::to_string(i) + "] \"general.alignment\" value";
      if (!kv.value.is_integer())
        cur_.fail(field, out_.value_offsets[i],
                  std::string("alignment must be an unsigned integer, not ") + value_type_name(kv.value.type));
      if (std::holds_alternative<int64_t>(kv.value.data) && kv.value.as_i64() < 0)
        cur_.fail(field, out_.value_offsets[i],
                  "alignment " + std::to_string(kv.value.as_i64()) + " is not a nonzero power of two");
      const uint64_t a = kv.value.as_u64();
      if (!format::is_power_of_two(a))
        cur_.fail(field, out_.value_offsets[i], "alignment " + std::to_string(a) + " is not a nonzero power of two");
      out_.alignment = a;
    }
  }

  void read_tensor_infos() {
    check_count(n_tensors_, kMinTensorInfoBytes, "tensor_count", 8, "tensor infos");
    out_.tensors.reserve(n_tensors_);
    offset_field_at_.reserve(n_tensors_);
    std::unordered_map<std::string, uint64_t> seen;
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      const std::string prefix = "tensor[" + std::to_string(i) + "]";
      TensorInfo t;
      const uint64_t name_at = cur_.pos();
      t.name = cur_.read_string([&] { return prefix + " name"; });
      if (auto [it, fresh] = seen.emplace(t.name, i); !fresh)
        cur_.fail(prefix + " name", name_at,
                  "duplicate tensor name " + quote(t.name) + " (first used by tensor[" + std::to_string(it->second) +
                      "])");
      const std::string named = prefix + " " + quote(t.name);

      const uint64_t ndims_at = cur_.pos();
      const uint32_t n_dims = cur_.read<uint32_t>([&] { return named + " n_dims"; });
      if (n_dims < 1 || n_dims > format::kMaxDims)
        cur_.fail(named + " n_dims", ndims_at,
                  "n_dims " + std::to_string(n_dims) + " is outside 1.." + std::to_string(format::kMaxDims));

      const uint64_t dims_at = cur_.pos();
      uint64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const std::string dim_field = named + " dims[" + std::to_string(d) + "]";
        const uint64_t at = cur_.pos();
        const uint64_t dim = cur_.read<uint64_t>([&] { return dim_field; });
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          cur_.fail(dim_field, at, "dimension " + std::to_string(dim) + " does not fit in int64");
        auto product = format::checked_mul(n_elements, dim);
        if (!product || *product > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          cur_.fail(dim_field, at, "element count overflows int64");
        n_elements = *product;
        t.shape.push_back(static_cast<int64_t>(dim));
      }

      const uint64_t type_at = cur_.pos();
      const uint32_t type_id = cur_.read<uint32_t>([&] { return named + " type"; });
      const auto type = type_from_id(type_id);
      if (!type) {
        const std::string_view ggml_name = ggml_type_name(type_id);
        cur_.fail(named + " type", type_at,
                  ggml_name.empty() ? "unknown tensor type id " + std::to_string(type_id)
                                    : "unsupported tensor type " + std::string(ggml_name) + " (id " +
                                          std::to_string(type_id) + ")");
      }
      t.type = *type;
      const TypeTraits& traits = type_traits(t.type);
      if (t.shape[0] % traits.block_size != 0)
        cur_.fail(named + " dims[0]", dims_at,
                  "row length " + std::to_string(t.shape[0]) + " is not a multiple of the " +
                      std::string(traits.name) + " block size " + std::to_string(traits.block_size));
      auto n_bytes = format::checked_mul(n_elements / static_cast<uint64_t>(traits.block_size),
                                         static_cast<uint64_t>(traits.block_bytes));
      if (!n_bytes) cur_.fail(named + " dims", dims_at, "tensor byte size overflows");
      t.n_bytes = *n_bytes;

      const uint64_t offset_at = cur_.pos();
      t.offset = cur_.read<uint64_t>([&] { return named + " offset"; });
      if (t.offset % out_.alignment != 0)
        cur_.fail(named + " offset", offset_at,
                  "offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                      std::to_string(out_.alignment));
      offset_field_at_.push_back(offset_at);
      out_.tensors.push_back(std::move(t));
    }
  }

  std::string offset_field(size_t i) const {
    return "tensor[" + std::to_string(i) + "] " + quote(out_.tensors[i].name) + " offset";
  }

  void check_layout() {
    const uint64_t header_end = cur_.pos();
    auto data_offset = format::align_up(header_end, out_.alignment);
    if (!data_offset) cur_.fail("data section", header_end, "aligned start of the data section overflows");
    out_.data_offset = *data_offset;

    const uint64_t file_size = cur_.size();
    for (size_t i = 0; i < out_.tensors.size(); ++i) {
      const TensorInfo& t = out_.tensors[i];
      auto begin = format::checked_add(out_.data_offset, t.offset);
      auto end = begin ? format::checked_add(*begin, t.n_bytes) : std::nullopt;
      if (!end || *end > file_size)
        cur_.fail(offset_field(i), offset_field_at_[i],
                  "data of " + std::to_string(t.n_bytes) + " bytes at data offset " + std::to_string(t.offset) +
                      " lies beyond the end of the file (" + std::to_string(file_size) + " bytes, data section at " +
                      std::to_string(out_.data_offset) + ")");
    }

    // Every tensor now lies inside the file, so these sums cannot overflow.
    std::vector<size_t> order(out_.tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return out_.tensors[a].offset != out_.tensors[b].offset ? out_.tensors[a].offset < out_.tensors[b].offset
                                                              : a < b;
    });
    const TensorInfo* prev = nullptr;
    size_t prev_index = 0;
    for (size_t i : order) {
      const TensorInfo& t = out_.tensors[i];
      if (t.n_bytes == 0) continue;
      if (prev && prev->offset + prev->n_bytes > t.offset) {
        const size_t later = std::max(i, prev_index);
        const size_t earlier = std::min(i, prev_index);
        cur_.fail(offset_field(later), offset_field_at_[later],
                  "data overlaps tensor[" + std::to_string(earlier) + "] " + quote(out_.tensors[earlier].name) +
                      " (data offsets [" + std::to_string(prev->offset) + ", " +
                      std::to_string(prev->offset + prev->n_bytes) + ") and [" + std::to_string(t.offset) + ", " +
                      std::to_string(t.offset + t.n_bytes) + "))");
      }
      prev = &t;
      prev_index = i;
    }
  }

  ByteCursor cur_;
  ParsedGguf out_;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  std::vector<uint64_t> offset_field_at_;
};

}  // namespace

ParsedGguf parse_gguf(std::span<const uint8_t> bytes, const std::string& file) { return Parser(bytes, file).parse(); }

}  // namespace greta::gguf
