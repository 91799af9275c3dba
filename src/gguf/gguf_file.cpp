#include "gguf/gguf_file.h"

#include <limits>
#include <unordered_map>

#include "gguf/gguf_parse.h"
#include "gguf/mapped_file.h"
#include "gguf/text_escape.h"

namespace greta::gguf {

GgufError::GgufError(const std::string& file, const std::string& field, uint64_t offset, const std::string& problem)
    : InputError(file + ": " + field + " at byte " + std::to_string(offset) + ": " + problem),
      field_(field),
      offset_(offset) {}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // the reader has checked that this cannot overflow
  return n;
}

struct GgufFile::Impl {
  std::string path;
  std::unique_ptr<MappedFile> mapping;  // open()
  std::vector<uint8_t> owned;           // from_bytes()
  std::span<const uint8_t> bytes;
  ParsedGguf parsed;
  std::unordered_map<std::string_view, size_t> key_index;
  std::unordered_map<std::string_view, size_t> tensor_index;

  void parse() {
    parsed = parse_gguf(bytes, path);
    // Views into strings owned by `parsed`, which no longer changes.
    for (size_t i = 0; i < parsed.metadata.size(); ++i) key_index.emplace(parsed.metadata[i].key, i);
    for (size_t i = 0; i < parsed.tensors.size(); ++i) tensor_index.emplace(parsed.tensors[i].name, i);
  }

  // The metadata entry for key, or nullptr.
  const KeyValue* find(std::string_view key, size_t* index = nullptr) const {
    auto it = key_index.find(key);
    if (it == key_index.end()) return nullptr;
    if (index) *index = it->second;
    return &parsed.metadata[it->second];
  }
};

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->mapping = std::make_unique<MappedFile>(path);
  impl->bytes = impl->mapping->bytes();
  impl->parse();
  return GgufFile(std::move(impl));
}

GgufFile GgufFile::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->path = std::move(name);
  impl->owned = std::move(bytes);
  impl->bytes = impl->owned;
  impl->parse();
  return GgufFile(std::move(impl));
}

const std::string& GgufFile::path() const { return impl_->path; }
uint32_t GgufFile::version() const { return impl_->parsed.version; }
uint64_t GgufFile::alignment() const { return impl_->parsed.alignment; }
uint64_t GgufFile::data_offset() const { return impl_->parsed.data_offset; }
uint64_t GgufFile::file_size() const { return impl_->bytes.size(); }
const std::vector<KeyValue>& GgufFile::metadata() const { return impl_->parsed.metadata; }
const std::vector<TensorInfo>& GgufFile::tensors() const { return impl_->parsed.tensors; }

const Value* GgufFile::find(std::string_view key) const {
  const KeyValue* kv = impl_->find(key);
  return kv ? &kv->value : nullptr;
}

namespace {

// The value of `key`, or nullptr when absent; throws when its type is refused by `accepts`.
// ImplT is deduced so that this helper can use the private Impl without naming it.
template <class ImplT, class Accepts>
const Value* typed(const GgufFile& file, const ImplT& impl, std::string_view key, const char* expected,
                   Accepts accepts) {
  size_t i = 0;
  const KeyValue* kv = impl.find(key, &i);
  if (!kv) return nullptr;
  if (!accepts(kv->value))
    throw file.error("metadata[" + std::to_string(i) + "] " + quote(key), impl.parsed.value_offsets[i],
                     std::string("has type ") + value_type_name(kv->value.type) + ", expected " + expected);
  return &kv->value;
}

bool is_negative(const Value& v) { return std::holds_alternative<int64_t>(v.data) && v.as_i64() < 0; }
bool above_int64(const Value& v) {
  return std::holds_alternative<uint64_t>(v.data) &&
         v.as_u64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

}  // namespace

std::optional<uint64_t> GgufFile::get_uint(std::string_view key) const {
  const Value* v = typed(*this, *impl_, key, "a non-negative integer",
                         [](const Value& v) { return v.is_integer() && !is_negative(v); });
  if (!v) return std::nullopt;
  return v->as_u64();
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const Value* v = typed(*this, *impl_, key, "an integer that fits in int64",
                         [](const Value& v) { return v.is_integer() && !above_int64(v); });
  if (!v) return std::nullopt;
  return v->as_i64();
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const Value* v = typed(*this, *impl_, key, "a number", [](const Value& v) { return v.is_float() || v.is_integer(); });
  if (!v) return std::nullopt;
  return v->as_f64();
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const Value* v = typed(*this, *impl_, key, "bool", [](const Value& v) { return v.type == ValueType::BOOL; });
  if (!v) return std::nullopt;
  return std::get<bool>(v->data);
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const Value* v = typed(*this, *impl_, key, "string", [](const Value& v) { return v.type == ValueType::STRING; });
  if (!v) return std::nullopt;
  return v->as_string();
}

const Array* GgufFile::get_array(std::string_view key) const {
  const Value* v = typed(*this, *impl_, key, "array", [](const Value& v) { return v.type == ValueType::ARRAY; });
  return v ? &v->as_array() : nullptr;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->parsed.tensors[it->second];
}

const uint8_t* GgufFile::tensor_data(const TensorInfo& t) const {
  // Validated at open: data_offset + offset + n_bytes <= file size. A zero-byte tensor may
  // sit at the very end, so clamp rather than form a pointer past the image.
  const uint64_t at = impl_->parsed.data_offset + t.offset;
  if (at > impl_->bytes.size()) return impl_->bytes.data() + impl_->bytes.size();
  return impl_->bytes.data() + at;
}

GgufError GgufFile::error(const std::string& field, uint64_t offset, const std::string& problem) const {
  return GgufError(impl_->path, field, offset, problem);
}

}  // namespace greta::gguf
