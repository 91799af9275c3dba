#include "synth/tensor_plan.h"

#include <array>
#include <cctype>

#include "greta/error.h"

namespace greta::synth {
namespace {

constexpr std::array<std::pair<TensorRole, std::string_view>, 12> kRoleNames = {{
    {TensorRole::TokenEmbd, "token_embd"}, {TensorRole::OutputNorm, "output_norm"},
    {TensorRole::Output, "output"},         {TensorRole::AttnNorm, "attn_norm"},
    {TensorRole::AttnQ, "attn_q"},          {TensorRole::AttnK, "attn_k"},
    {TensorRole::AttnV, "attn_v"},          {TensorRole::AttnOutput, "attn_output"},
    {TensorRole::FfnNorm, "ffn_norm"},      {TensorRole::FfnGate, "ffn_gate"},
    {TensorRole::FfnUp, "ffn_up"},          {TensorRole::FfnDown, "ffn_down"},
}};

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The types `--type` accepts one by one (the CLI's spelling).
constexpr std::array<std::pair<std::string_view, TensorType>, 8> kUniformTypes = {{
    {"f32", TensorType::F32}, {"f16", TensorType::F16}, {"bf16", TensorType::BF16},
    {"q8_0", TensorType::Q8_0}, {"q4_0", TensorType::Q4_0}, {"q4_k", TensorType::Q4_K},
    {"q5_k", TensorType::Q5_K}, {"q6_k", TensorType::Q6_K},
}};

std::string uniform_type_list() {
  std::string s;
  for (const auto& [n, t] : kUniformTypes) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

std::optional<TensorType> uniform_type(std::string_view name) {
  const std::string l = lower(name);
  for (const auto& [n, t] : kUniformTypes)
    if (n == l) return t;
  return std::nullopt;
}

}  // namespace

std::string_view role_name(TensorRole role) {
  for (const auto& [r, n] : kRoleNames)
    if (r == role) return n;
  return "?";
}

std::optional<TensorRole> role_from_name(std::string_view name) {
  for (const auto& [r, n] : kRoleNames)
    if (n == name) return r;
  return std::nullopt;
}

bool is_norm(TensorRole role) {
  return role == TensorRole::OutputNorm || role == TensorRole::AttnNorm || role == TensorRole::FfnNorm;
}

WeightType WeightType::parse(std::string_view name) {
  if (lower(name) == "q4_k_m") return {true, TensorType::Q4_K};
  if (auto t = uniform_type(name)) return {false, *t};
  throw InputError("unknown weight type '" + std::string(name) + "' (known: " + uniform_type_list() + ", q4_k_m)");
}

std::string WeightType::name() const {
  if (q4_k_m) return "q4_k_m";
  for (const auto& [n, t] : kUniformTypes)
    if (t == uniform) return std::string(n);
  return "?";
}

uint32_t WeightType::file_type() const {
  if (q4_k_m) return 15;  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  switch (uniform) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q8_0: return 7;
    case TensorType::Q4_K: return 14;  // Q4_K_S
    case TensorType::Q5_K: return 16;  // Q5_K_S
    case TensorType::Q6_K: return 18;
    case TensorType::BF16: return 32;
  }
  return 0;
}

std::pair<TensorRole, TensorType> parse_type_override(std::string_view spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string_view::npos)
    throw InputError("--type-for wants ROLE=TYPE (e.g. attn_k=q5_k), got '" + std::string(spec) + "'");
  const std::string_view role_s = spec.substr(0, eq), type_s = spec.substr(eq + 1);
  const auto role = role_from_name(role_s);
  if (!role) {
    std::string roles;
    for (const auto& [r, n] : kRoleNames)
      if (!is_norm(r)) roles += (roles.empty() ? "" : ", ") + std::string(n);
    throw InputError("--type-for: unknown tensor role '" + std::string(role_s) + "' (known: " + roles + ")");
  }
  if (is_norm(*role))
    throw InputError("--type-for: " + std::string(role_s) + " is a norm and stays f32");
  const auto type = uniform_type(type_s);
  if (!type) throw InputError("--type-for: unknown type '" + std::string(type_s) + "' (known: " + uniform_type_list() + ")");
  return {*role, *type};
}

bool q4_k_m_uses_more_bits(int64_t i, int64_t n) {
  // i < n/8 is checked first, so (i - n/8) is never negative when the modulo is taken.
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

TensorType tensor_type_for(const TypeChoice& c, TensorRole role, int64_t layer, int64_t n_layers) {
  if (is_norm(role)) return TensorType::F32;
  if (auto it = c.overrides.find(role); it != c.overrides.end()) return it->second;
  if (!c.type.q4_k_m) return c.type.uniform;
  switch (role) {
    case TensorRole::Output: return TensorType::Q6_K;
    // With a tied embedding llama.cpp gives token_embd the output's type.
    case TensorRole::TokenEmbd: return c.tied ? TensorType::Q6_K : TensorType::Q4_K;
    case TensorRole::AttnV:
    case TensorRole::FfnDown: return q4_k_m_uses_more_bits(layer, n_layers) ? TensorType::Q6_K : TensorType::Q4_K;
    default: return TensorType::Q4_K;
  }
}

int64_t PlannedTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t PlannedTensor::n_bytes() const { return n_elements() / shape[0] * row_bytes(type, shape[0]); }

std::vector<PlannedTensor> plan_tensors(const SynthShape& s, const TypeChoice& choice) {
  validate_shape(s);
  std::vector<PlannedTensor> out;
  auto add = [&](std::string name, TensorRole role, int64_t layer, std::vector<int64_t> shape) {
    const TensorType type = tensor_type_for(choice, role, layer, s.layers);
    const int64_t block = type_traits(type).block_size;
    if (shape[0] % block != 0)
      throw InputError(name + ": row length " + std::to_string(shape[0]) + " is not a multiple of " +
                       std::string(type_traits(type).name) + "'s block size " + std::to_string(block) +
                       " (choose another type, or a dim/ffn that is a multiple of it)");
    out.push_back({std::move(name), role, layer, type, std::move(shape)});
  };
  add("token_embd.weight", TensorRole::TokenEmbd, -1, {s.dim, s.vocab});
  add("output_norm.weight", TensorRole::OutputNorm, -1, {s.dim});
  if (!choice.tied) add("output.weight", TensorRole::Output, -1, {s.dim, s.vocab});
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", TensorRole::AttnNorm, l, {s.dim});
    add(p + "attn_q.weight", TensorRole::AttnQ, l, {s.dim, s.dim});
    add(p + "attn_k.weight", TensorRole::AttnK, l, {s.dim, s.kv_dim()});
    add(p + "attn_v.weight", TensorRole::AttnV, l, {s.dim, s.kv_dim()});
    add(p + "attn_output.weight", TensorRole::AttnOutput, l, {s.dim, s.dim});
    add(p + "ffn_norm.weight", TensorRole::FfnNorm, l, {s.dim});
    add(p + "ffn_gate.weight", TensorRole::FfnGate, l, {s.dim, s.ffn});
    add(p + "ffn_up.weight", TensorRole::FfnUp, l, {s.dim, s.ffn});
    add(p + "ffn_down.weight", TensorRole::FfnDown, l, {s.ffn, s.dim});
  }
  return out;
}

}  // namespace greta::synth
