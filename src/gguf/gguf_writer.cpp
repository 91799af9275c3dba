#include "gguf/gguf_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "greta/error.h"
#include "gguf/gguf_format.h"

namespace greta::gguf {
namespace {

constexpr const char* kAlignmentKey = "general.alignment";

class HeaderBuffer {
 public:
  template <class T>
  void put(T v) {
    append(&v, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    append(s.data(), s.size());
  }
  void append(const void* p, size_t n) {
    if (n == 0) return;
    const size_t at = bytes.size();
    bytes.resize(at + n);
    std::memcpy(bytes.data() + at, p, n);
  }
  void put_value(const Value& v) {
    switch (v.type) {
      case ValueType::U8: case ValueType::I8: put(static_cast<uint8_t>(v.as_u64())); break;
      case ValueType::U16: case ValueType::I16: put(static_cast<uint16_t>(v.as_u64())); break;
      case ValueType::U32: case ValueType::I32: put(static_cast<uint32_t>(v.as_u64())); break;
      case ValueType::U64: case ValueType::I64: put(v.as_u64()); break;
      case ValueType::F32: put(static_cast<float>(v.as_f64())); break;
      case ValueType::F64: put(v.as_f64()); break;
      case ValueType::BOOL: put(static_cast<uint8_t>(std::get<bool>(v.data) ? 1 : 0)); break;
      case ValueType::STRING: put_string(v.as_string()); break;
      case ValueType::ARRAY: {
        const Array& a = v.as_array();
        put(static_cast<uint32_t>(a.elem_type));
        put<uint64_t>(a.items.size());
        for (const Value& item : a.items) {
          if (item.type != a.elem_type)
            throw std::invalid_argument(std::string("GgufWriter: array of ") + value_type_name(a.elem_type) +
                                        " holds a " + value_type_name(item.type) + " item");
          put_value(item);
        }
        break;
      }
    }
  }
  std::vector<uint8_t> bytes;
};

uint64_t align(uint64_t x, uint64_t alignment) { return *format::align_up(x, alignment); }

}  // namespace

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {
  if (!format::is_power_of_two(alignment) || alignment > (uint64_t{1} << 31))
    throw std::invalid_argument("GgufWriter: alignment " + std::to_string(alignment) +
                                " is not a power of two up to 2^31");
  if (alignment != format::kDefaultAlignment) kv_.emplace_back(kAlignmentKey, Value::u32(static_cast<uint32_t>(alignment)));
}

void GgufWriter::set(std::string key, Value value) {
  if (key == kAlignmentKey && (!value.is_integer() || value.as_u64() != alignment_))
    throw std::invalid_argument("GgufWriter: general.alignment is fixed by the constructor");
  for (auto& kv : kv_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  kv_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::add_tensor(std::string name, TensorType type, std::vector<int64_t> shape, Fill fill) {
  for (const auto& t : tensors_)
    if (t.name == name) throw std::invalid_argument("GgufWriter: duplicate tensor " + name);
  if (shape.empty() || shape.size() > format::kMaxDims)
    throw std::invalid_argument("GgufWriter: tensor " + name + " needs 1 to 4 dimensions");
  const TypeTraits& traits = type_traits(type);
  uint64_t n = 1;
  for (int64_t d : shape) {
    auto product = d < 0 ? std::nullopt : format::checked_mul(n, static_cast<uint64_t>(d));
    if (!product || *product > static_cast<uint64_t>(INT64_MAX))
      throw std::invalid_argument("GgufWriter: tensor " + name + " has a bad shape");
    n = *product;
  }
  if (shape[0] % traits.block_size != 0)
    throw std::invalid_argument("GgufWriter: tensor " + name + " row length " + std::to_string(shape[0]) +
                                " is not a multiple of the block size " + std::to_string(traits.block_size));
  auto n_bytes = format::checked_mul(n / traits.block_size, traits.block_bytes);
  if (!n_bytes) throw std::invalid_argument("GgufWriter: tensor " + name + " is too large");
  tensors_.push_back({std::move(name), type, std::move(shape), *n_bytes, std::move(fill)});
}

uint64_t GgufWriter::total_bytes() const {
  uint64_t header = 4 + 4 + 8 + 8;
  HeaderBuffer kv;
  for (const auto& [key, value] : kv_) {
    kv.put_string(key);
    kv.put(static_cast<uint32_t>(value.type));
    kv.put_value(value);
  }
  header += kv.bytes.size();
  for (const auto& t : tensors_) header += 8 + t.name.size() + 4 + 8 * t.shape.size() + 4 + 8;
  uint64_t end = align(header, alignment_);
  for (const auto& t : tensors_) end = align(end + t.n_bytes, alignment_);
  return end;
}

// Streams the file through `sink`, one tensor at a time.
template <class Sink>
static void write_to(const GgufWriter::Progress& progress, uint64_t alignment, uint64_t total,
                     const std::vector<std::pair<std::string, Value>>& kv, const auto& tensors, Sink&& sink) {
  HeaderBuffer h;
  h.put(format::kMagic);
  h.put(format::kVersion);
  h.put<uint64_t>(tensors.size());
  h.put<uint64_t>(kv.size());
  for (const auto& [key, value] : kv) {
    h.put_string(key);
    h.put(static_cast<uint32_t>(value.type));
    h.put_value(value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    h.put_string(t.name);
    h.put(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) h.put(static_cast<uint64_t>(d));
    h.put(static_cast<uint32_t>(t.type));
    h.put(offset);
    offset = align(offset + t.n_bytes, alignment);
  }
  h.bytes.resize(align(h.bytes.size(), alignment), 0);
  sink(std::span<const uint8_t>(h.bytes));
  uint64_t done = h.bytes.size();

  std::vector<uint8_t> buffer;
  for (const auto& t : tensors) {
    buffer.assign(t.n_bytes, 0);
    if (t.fill) t.fill(std::span<uint8_t>(buffer));
    buffer.resize(align(t.n_bytes, alignment), 0);  // padding after the tensor
    sink(std::span<const uint8_t>(buffer));
    done += buffer.size();
    if (progress) progress(done, total);
  }
}

std::vector<uint8_t> GgufWriter::write_bytes() const {
  std::vector<uint8_t> out;
  out.reserve(total_bytes());
  write_to({}, alignment_, total_bytes(), kv_, tensors_,
           [&](std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); });
  return out;
}

namespace {

// Owns the temporary file until it is renamed into place; removes it on any failure.
class TempFile {
 public:
  TempFile(std::string target) : target_(std::move(target)), tmp_(target_ + ".tmp" + std::to_string(::getpid())) {
    file_ = std::fopen(tmp_.c_str(), "wb");
    if (!file_) fail("cannot create " + tmp_);
  }
  ~TempFile() {
    if (file_) std::fclose(file_);
    if (!committed_) std::remove(tmp_.c_str());
  }
  void write(std::span<const uint8_t> b) {
    if (std::fwrite(b.data(), 1, b.size(), file_) != b.size()) fail("cannot write");
  }
  void commit() {
    const bool flushed = std::fflush(file_) == 0;
    const int err = errno;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!flushed || !closed) fail("cannot write", flushed ? errno : err);
    if (std::rename(tmp_.c_str(), target_.c_str()) != 0) fail("cannot rename " + tmp_ + " to it");
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(const std::string& what, int err = errno) const {
    throw InputError(target_ + ": " + what + ": " + std::strerror(err));
  }
  std::string target_;
  std::string tmp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace

void GgufWriter::write_file(const std::string& path, const Progress& progress) const {
  // Written beside the target and renamed at the end, so a failure never leaves a half file.
  TempFile out(path);
  write_to(progress, alignment_, total_bytes(), kv_, tensors_, [&](std::span<const uint8_t> b) { out.write(b); });
  out.commit();
}

}  // namespace greta::gguf
