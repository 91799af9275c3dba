#pragma once
// Which tensors a synthetic Llama file holds, with llama.cpp's GGUF names, shapes and the
// tensor type each one gets (a uniform type, or llama.cpp's Q4_K_M mix, plus per-role
// overrides).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greta/tensor_type.h"
#include "synth/synth_shape.h"

namespace greta::synth {

// A tensor's job in the model; `--type-for ROLE=TYPE` names these.
enum class TensorRole {
  TokenEmbd, OutputNorm, Output,
  AttnNorm, AttnQ, AttnK, AttnV, AttnOutput,
  FfnNorm, FfnGate, FfnUp, FfnDown,
};

std::string_view role_name(TensorRole role);  // "token_embd", "attn_k", ...
std::optional<TensorRole> role_from_name(std::string_view name);
bool is_norm(TensorRole role);

// What `--type` asks for: one type for every weight matrix, or the Q4_K_M mix.
struct WeightType {
  bool q4_k_m = false;
  TensorType uniform = TensorType::F32;  // used when !q4_k_m

  // "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "q4_k_m" (any case).
  static WeightType parse(std::string_view name);  // throws InputError
  std::string name() const;
  // llama.cpp's general.file_type (LLAMA_FTYPE_*): uniform K types map to their _S variant.
  uint32_t file_type() const;
};

// "attn_k=q5_k" → {AttnK, Q5_K}. Norms cannot be overridden (they stay F32, which every
// reader expects). Throws InputError.
std::pair<TensorRole, TensorType> parse_type_override(std::string_view spec);

struct TypeChoice {
  WeightType type;
  std::map<TensorRole, TensorType> overrides;
  bool tied = false;  // no output.weight: the embedding doubles as the output matrix
};

// The type one tensor gets. `layer` is ignored for the non-layer roles.
TensorType tensor_type_for(const TypeChoice& choice, TensorRole role, int64_t layer, int64_t n_layers);

// llama.cpp's use_more_bits(i, n): the layers whose attn_v and ffn_down get Q6_K under Q4_K_M.
bool q4_k_m_uses_more_bits(int64_t layer, int64_t n_layers);

struct PlannedTensor {
  std::string name;
  TensorRole role;
  int64_t layer = -1;          // -1 for token_embd, output_norm, output
  TensorType type;
  std::vector<int64_t> shape;  // ggml order: shape[0] is the input (contiguous) dimension

  int64_t n_elements() const;
  int64_t n_bytes() const;     // rows × row_bytes(type, shape[0])
};

// Every tensor of the file, in file order: token_embd, output_norm, output (unless tied),
// then per layer attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate,
// ffn_up, ffn_down. Throws InputError when a row length is not a multiple of its type's
// block size (e.g. dim 128 with a K-quant).
std::vector<PlannedTensor> plan_tensors(const SynthShape& shape, const TypeChoice& choice);

}  // namespace greta::synth
