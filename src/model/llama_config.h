#pragma once
// Hyper-parameters of a Llama-family model, read from the GGUF `llama.*` keys.
#include <cstdint>
#include <string>
#include <vector>

namespace greta::gguf { class GgufFile; }

namespace greta {

struct LlamaConfig {
  std::string name;            // general.name, if any
  int64_t n_vocab = 0;
  int64_t dim = 0;             // embedding_length
  int64_t n_layers = 0;        // block_count
  int64_t n_ffn = 0;           // feed_forward_length
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;      // GQA: n_heads is a multiple of it
  int64_t head_dim = 0;        // dim / n_heads
  int64_t rope_dim = 0;        // rope.dimension_count, default head_dim
  double rope_base = 10000.0;  // rope.freq_base
  float rms_eps = 1e-5f;       // attention.layer_norm_rms_epsilon
  int64_t n_ctx_train = 0;     // context_length
  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }

  // Reads and validates the keys; a missing or inconsistent value throws InputError naming it.
  static LlamaConfig from_gguf(const gguf::GgufFile& file);
};

// RoPE rotation frequency of each pair i < rope_dim/2: base^(-2i/rope_dim), divided by
// the Llama 3.1 per-pair factor when the model carries `rope_freqs.weight`.
std::vector<float> rope_frequencies(const LlamaConfig& config, const float* freq_factors);

}  // namespace greta
