// describe(): the text `greta inspect` prints for a GGUF file.
#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>

#include "gguf/gguf_file.h"
#include "gguf/text_escape.h"

namespace greta::gguf {
namespace {

constexpr size_t kArrayShownWhole = 8;  // longer arrays show only their first items
constexpr size_t kArrayHead = 5;
constexpr size_t kStringShown = 80;

std::string number(double v, bool single) {
  char buf[64];
  auto r = single ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                  : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string type_label(const Value& v) {
  if (v.type != ValueType::ARRAY) return value_type_name(v.type);
  const Array& a = v.as_array();
  std::string elem = value_type_name(a.elem_type);
  if (a.elem_type == ValueType::ARRAY && !a.items.empty()) elem = type_label(a.items.front());
  return "[" + elem + " x " + std::to_string(a.items.size()) + "]";
}

std::string render(const Value& v) {
  switch (v.type) {
    case ValueType::F32: return number(v.as_f64(), true);
    case ValueType::F64: return number(v.as_f64(), false);
    case ValueType::BOOL: return std::get<bool>(v.data) ? "true" : "false";
    case ValueType::STRING: return quote(v.as_string(), kStringShown);
    case ValueType::ARRAY: {
      const Array& a = v.as_array();
      const size_t shown = a.items.size() > kArrayShownWhole ? kArrayHead : a.items.size();
      std::string out = "[";
      for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + render(a.items[i]);
      if (shown < a.items.size()) out += ", ... (" + std::to_string(a.items.size() - shown) + " more)";
      return out + "]";
    }
    default:
      return std::holds_alternative<int64_t>(v.data) ? std::to_string(v.as_i64()) : std::to_string(v.as_u64());
  }
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? " x " : "") + std::to_string(shape[i]);
  return s;
}

// An untrusted name made printable, without the surrounding quotes.
std::string printable(std::string_view s) {
  std::string q = quote(s, 96);
  q.erase(0, 1);
  q.erase(q.rfind('"'), 1);
  return q;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string pad_left(const std::string& s, size_t width) {
  return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

}  // namespace

std::string describe(const GgufFile& file) {
  std::ostringstream out;
  out << file.path() << ": GGUF v" << file.version() << ", " << file.file_size() << " bytes, alignment "
      << file.alignment() << ", data section at byte " << file.data_offset() << "\n";

  const auto& metadata = file.metadata();
  out << "\nmetadata (" << metadata.size() << " keys)\n";
  size_t key_width = 0;
  for (const auto& kv : metadata) key_width = std::max(key_width, std::min<size_t>(printable(kv.key).size(), 48));
  for (const auto& kv : metadata) {
    out << "  " << pad(printable(kv.key) + ":", key_width + 1) << " " << type_label(kv.value) << " = " << render(kv.value) << "\n";
  }

  const auto& tensors = file.tensors();
  out << "\ntensors (" << tensors.size() << ")\n";
  size_t name_w = 4, type_w = 4, shape_w = 5, bytes_w = 5;
  for (const auto& t : tensors) {
    name_w = std::max(name_w, std::min<size_t>(printable(t.name).size(), 48));
    type_w = std::max(type_w, type_traits(t.type).name.size());
    shape_w = std::max(shape_w, shape_text(t.shape).size());
    bytes_w = std::max(bytes_w, std::to_string(t.n_bytes).size());
  }
  if (!tensors.empty())
    out << "  " << pad("name", name_w) << "  " << pad("type", type_w) << "  " << pad("shape", shape_w) << "  "
        << pad_left("bytes", bytes_w) << "\n";

  struct PerType {
    uint64_t count = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, PerType> by_type;
  uint64_t total_params = 0, total_bytes = 0;
  for (const auto& t : tensors) {
    const std::string name = printable(t.name);
    const std::string type(type_traits(t.type).name);
    out << "  " << pad(name, name_w) << "  " << pad(type, type_w) << "  " << pad(shape_text(t.shape), shape_w)
        << "  " << pad_left(std::to_string(t.n_bytes), bytes_w) << "\n";
    // Sums cannot overflow: every tensor lies inside the file and they do not overlap
    // (zero-byte tensors add nothing).
    total_params += static_cast<uint64_t>(t.n_elements());
    total_bytes += t.n_bytes;
    by_type[type].count++;
    by_type[type].bytes += t.n_bytes;
  }

  out << "\ntotals\n"
      << "  tensors     " << tensors.size() << "\n"
      << "  parameters  " << total_params << "\n"
      << "  bytes       " << total_bytes << "\n";
  for (const auto& [type, s] : by_type)
    out << "  " << pad(type, 10) << "  " << s.count << (s.count == 1 ? " tensor, " : " tensors, ") << s.bytes
        << " bytes\n";
  return out.str();
}

}  // namespace greta::gguf
