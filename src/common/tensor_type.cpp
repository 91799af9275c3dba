#include "greta/tensor_type.h"

#include <array>
#include <cctype>
#include <stdexcept>
#include <string>

namespace greta {
namespace {

struct Entry {
  uint32_t id;
  TypeTraits traits;
};

constexpr std::array<Entry, 8> kSupported = {{
    {0, {"f32", 1, 4}},
    {1, {"f16", 1, 2}},
    {2, {"q4_0", 32, 18}},
    {8, {"q8_0", 32, 34}},
    {12, {"q4_K", 256, 144}},
    {13, {"q5_K", 256, 176}},
    {14, {"q6_K", 256, 210}},
    {30, {"bf16", 1, 2}},
}};

// ggml's names for every id up to 39, so an unsupported type can be named in errors.
constexpr std::array<std::string_view, 40> kGgmlNames = {
    "f32",  "f16",  "q4_0", "q4_1", "",        "",        "q5_0",    "q5_1",    "q8_0",   "q8_1",
    "q2_K", "q3_K", "q4_K", "q5_K", "q6_K",    "q8_K",    "iq2_xxs", "iq2_xs",  "iq3_xxs", "iq1_s",
    "iq4_nl", "iq3_s", "iq2_s", "iq4_xs", "i8", "i16",    "i32",     "i64",     "f64",    "iq1_m",
    "bf16", "",     "",     "",     "tq1_0",   "tq2_0",   "",        "",        "",       "mxfp4"};

}  // namespace

const TypeTraits& type_traits(TensorType type) {
  for (const auto& e : kSupported)
    if (e.id == static_cast<uint32_t>(type)) return e.traits;
  throw std::logic_error("type_traits: unsupported tensor type");
}

std::optional<TensorType> type_from_id(uint32_t id) {
  for (const auto& e : kSupported)
    if (e.id == id) return static_cast<TensorType>(id);
  return std::nullopt;
}

std::string_view ggml_type_name(uint32_t id) { return id < kGgmlNames.size() ? kGgmlNames[id] : ""; }

std::optional<TensorType> type_from_name(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kSupported) {
    std::string n;
    for (char c : e.traits.name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == lower) return static_cast<TensorType>(e.id);
  }
  return std::nullopt;
}

int64_t row_bytes(TensorType type, int64_t n) {
  const auto& t = type_traits(type);
  return n / t.block_size * t.block_bytes;
}

}  // namespace greta
