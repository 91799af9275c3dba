#pragma once
// A deliberately separate GGUF v3 parser for the conformance tests: it shares no code
// with greta's reader or writer (not even the type table), so a mistake in either one
// cannot hide itself here. It reads little-endian fields one by one and records where
// each thing was found, checking every bound as it goes.
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace synth_test {

struct KV {
  uint32_t type = 0;
  // Scalars as u64/i64/double/bool/string; arrays keep their element type and items.
  std::variant<uint64_t, int64_t, double, bool, std::string> scalar;
  uint32_t array_type = 0;
  std::vector<KV> items;
};

struct TensorRecord {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;
  uint64_t offset = 0;  // relative to the data section
};

struct ParsedGguf {
  uint32_t version = 0;
  std::map<std::string, KV> kv;
  std::vector<std::string> key_order;
  std::vector<TensorRecord> tensors;
  uint64_t header_end = 0;   // first byte after the tensor infos
  uint64_t data_offset = 0;  // start of the data section
  uint64_t file_size = 0;
};

// ggml's block geometry, written out here independently of greta's tables.
inline bool block_geometry(uint32_t type, uint64_t& block, uint64_t& bytes) {
  switch (type) {
    case 0: block = 1; bytes = 4; return true;     // F32
    case 1: block = 1; bytes = 2; return true;     // F16
    case 2: block = 32; bytes = 18; return true;   // Q4_0: f16 d + 16 nibble bytes
    case 8: block = 32; bytes = 34; return true;   // Q8_0: f16 d + 32 int8
    case 12: block = 256; bytes = 144; return true;  // Q4_K: d, dmin, 12 scale bytes, 128 nibble bytes
    case 13: block = 256; bytes = 176; return true;  // Q5_K: Q4_K + 32 high-bit bytes
    case 14: block = 256; bytes = 210; return true;  // Q6_K: 128 ql + 64 qh + 16 scales + f16 d
    case 30: block = 1; bytes = 2; return true;    // BF16
    default: return false;
  }
}

class Cursor {
 public:
  Cursor(const std::vector<uint8_t>& b) : b_(b) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str() {
    const uint64_t n = get<uint64_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  uint64_t pos() const { return pos_; }

 private:
  void need(uint64_t n) const {
    if (n > b_.size() || pos_ > b_.size() - n) throw std::runtime_error("truncated at byte " + std::to_string(pos_));
  }
  const std::vector<uint8_t>& b_;
  uint64_t pos_ = 0;
};

inline KV read_value(Cursor& c, uint32_t type) {
  KV v;
  v.type = type;
  switch (type) {
    case 0: v.scalar = uint64_t{c.get<uint8_t>()}; break;
    case 1: v.scalar = int64_t{c.get<int8_t>()}; break;
    case 2: v.scalar = uint64_t{c.get<uint16_t>()}; break;
    case 3: v.scalar = int64_t{c.get<int16_t>()}; break;
    case 4: v.scalar = uint64_t{c.get<uint32_t>()}; break;
    case 5: v.scalar = int64_t{c.get<int32_t>()}; break;
    case 6: v.scalar = double{c.get<float>()}; break;
    case 7: {
      const uint8_t b = c.get<uint8_t>();
      if (b > 1) throw std::runtime_error("bool byte not 0/1");
      v.scalar = b == 1;
      break;
    }
    case 8: v.scalar = c.str(); break;
    case 9: {
      v.array_type = c.get<uint32_t>();
      const uint64_t n = c.get<uint64_t>();
      for (uint64_t i = 0; i < n; ++i) v.items.push_back(read_value(c, v.array_type));
      break;
    }
    case 10: v.scalar = c.get<uint64_t>(); break;
    case 11: v.scalar = c.get<int64_t>(); break;
    case 12: v.scalar = c.get<double>(); break;
    default: throw std::runtime_error("bad value type " + std::to_string(type));
  }
  return v;
}

inline ParsedGguf parse_gguf(const std::vector<uint8_t>& bytes) {
  ParsedGguf g;
  g.file_size = bytes.size();
  Cursor c(bytes);
  if (c.get<uint32_t>() != 0x46554747u) throw std::runtime_error("bad magic");  // "GGUF"
  g.version = c.get<uint32_t>();
  const uint64_t n_tensors = c.get<uint64_t>();
  const uint64_t n_kv = c.get<uint64_t>();
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str();
    const uint32_t type = c.get<uint32_t>();
    if (g.kv.count(key)) throw std::runtime_error("duplicate key " + key);
    g.key_order.push_back(key);
    g.kv[key] = read_value(c, type);
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorRecord t;
    t.name = c.str();
    const uint32_t nd = c.get<uint32_t>();
    if (nd == 0 || nd > 4) throw std::runtime_error("bad n_dims for " + t.name);
    for (uint32_t d = 0; d < nd; ++d) t.dims.push_back(c.get<uint64_t>());
    t.type = c.get<uint32_t>();
    t.offset = c.get<uint64_t>();
    g.tensors.push_back(t);
  }
  g.header_end = c.pos();
  uint64_t alignment = 32;
  if (auto it = g.kv.find("general.alignment"); it != g.kv.end()) alignment = std::get<uint64_t>(it->second.scalar);
  g.data_offset = (g.header_end + alignment - 1) / alignment * alignment;
  return g;
}

inline uint64_t tensor_bytes(const TensorRecord& t) {
  uint64_t block = 0, bytes = 0;
  if (!block_geometry(t.type, block, bytes)) throw std::runtime_error("unknown type in " + t.name);
  uint64_t n = 1;
  for (uint64_t d : t.dims) n *= d;
  if (t.dims[0] % block != 0) throw std::runtime_error("row not a block multiple in " + t.name);
  return n / block * bytes;
}

inline uint64_t u(const ParsedGguf& g, const std::string& key) { return std::get<uint64_t>(g.kv.at(key).scalar); }
inline double f(const ParsedGguf& g, const std::string& key) { return std::get<double>(g.kv.at(key).scalar); }
inline std::string s(const ParsedGguf& g, const std::string& key) { return std::get<std::string>(g.kv.at(key).scalar); }

}  // namespace synth_test
