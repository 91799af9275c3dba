#include "synth/synth_shape.h"

#include <charconv>
#include <string>

#include "greta/error.h"

namespace greta::synth {
namespace {

struct NamedPreset {
  std::string_view name;
  SynthShape shape;
};

// The published sizes of the models these stand in for.
const NamedPreset kPresets[] = {
    {"tiny", {4096, 256, 4, 8, 4, 768, 2048, 10000.0f}},
    {"llama3-1b", {128256, 2048, 16, 32, 8, 8192, 8192, 500000.0f}},
    {"llama3-8b", {128256, 4096, 32, 32, 8, 14336, 8192, 500000.0f}},
    {"llama2-7b", {32000, 4096, 32, 32, 32, 11008, 4096, 10000.0f}},
};

std::string known_presets() {
  std::string s;
  for (const auto& p : kPresets) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

}  // namespace

SynthShape preset(std::string_view name) {
  for (const auto& p : kPresets)
    if (p.name == name) return p.shape;
  throw InputError("unknown preset '" + std::string(name) + "' (known: " + known_presets() + ")");
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.emplace_back(p.name);
  return names;
}

SynthShape parse_shape(std::string_view spec) {
  const std::string usage = "--shape wants vocab,dim,layers,heads,kv_heads,ffn,ctx,rope_base; got '" +
                            std::string(spec) + "'";
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = spec.find(',', start);
    fields.push_back(spec.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (fields.size() != 8) throw InputError(usage + " (" + std::to_string(fields.size()) + " fields, need 8)");

  auto integer = [&](std::string_view f) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (ec != std::errc() || end != f.data() + f.size() || f.empty())
      throw InputError(usage + " ('" + std::string(f) + "' is not an integer)");
    return v;
  };
  SynthShape s;
  s.vocab = integer(fields[0]);
  s.dim = integer(fields[1]);
  s.layers = integer(fields[2]);
  s.heads = integer(fields[3]);
  s.kv_heads = integer(fields[4]);
  s.ffn = integer(fields[5]);
  s.ctx = integer(fields[6]);
  // from_chars for float is not in every standard library this builds with; stod is.
  const std::string base(fields[7]);
  size_t used = 0;
  double rope = 0;
  try {
    rope = std::stod(base, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != base.size() || base.empty()) throw InputError(usage + " ('" + base + "' is not a number)");
  s.rope_base = static_cast<float>(rope);
  validate_shape(s);
  return s;
}

void validate_shape(const SynthShape& s) {
  auto bad = [](const std::string& why) { throw InputError("synthetic model shape: " + why); };
  // Bounds keep every size product far from int64 overflow and refuse absurd requests.
  const int64_t limit = int64_t{1} << 24;
  auto positive = [&](int64_t v, const char* name) {
    if (v <= 0 || v > limit) bad(std::string(name) + " must be in [1, 16777216], got " + std::to_string(v));
  };
  positive(s.vocab, "vocab");
  positive(s.dim, "dim");
  positive(s.layers, "layers");
  positive(s.heads, "heads");
  positive(s.kv_heads, "kv_heads");
  positive(s.ffn, "ffn");
  positive(s.ctx, "ctx");
  if (s.dim % s.heads != 0) bad("heads (" + std::to_string(s.heads) + ") must divide dim (" + std::to_string(s.dim) + ")");
  if (s.heads % s.kv_heads != 0)
    bad("kv_heads (" + std::to_string(s.kv_heads) + ") must divide heads (" + std::to_string(s.heads) + ")");
  if (s.head_dim() % 2 != 0) bad("head size dim/heads must be even for RoPE, got " + std::to_string(s.head_dim()));
  if (!(s.rope_base > 1.0f) || s.rope_base > 1e12f) bad("rope_base must be > 1, got " + std::to_string(s.rope_base));
}

}  // namespace greta::synth
