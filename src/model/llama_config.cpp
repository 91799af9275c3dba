#include "model/llama_config.h"

#include <cmath>

#include "gguf/gguf_file.h"

namespace greta {
namespace {

int64_t required_positive(const gguf::GgufFile& f, const std::string& key) {
  auto v = f.get_uint(key);
  if (!v) throw InputError(f.path() + ": missing metadata key " + key);
  if (*v == 0 || *v > (1u << 30)) throw InputError(f.path() + ": metadata " + key + " = " + std::to_string(*v) + " is out of range");
  return static_cast<int64_t>(*v);
}

}  // namespace

LlamaConfig LlamaConfig::from_gguf(const gguf::GgufFile& f) {
  auto arch = f.get_string("general.architecture");
  if (!arch) throw InputError(f.path() + ": missing metadata key general.architecture");
  if (*arch != "llama")
    throw InputError(f.path() + ": architecture '" + *arch + "' is not supported (greta runs 'llama')");
  const std::string p = "llama.";
  LlamaConfig c;
  c.name = f.get_string("general.name").value_or("");
  c.dim = required_positive(f, p + "embedding_length");
  c.n_layers = required_positive(f, p + "block_count");
  c.n_ffn = required_positive(f, p + "feed_forward_length");
  c.n_heads = required_positive(f, p + "attention.head_count");
  c.n_kv_heads = f.get_uint(p + "attention.head_count_kv") ? required_positive(f, p + "attention.head_count_kv") : c.n_heads;
  c.n_ctx_train = f.get_uint(p + "context_length") ? required_positive(f, p + "context_length") : 2048;
  if (c.dim % c.n_heads != 0)
    throw InputError(f.path() + ": embedding_length " + std::to_string(c.dim) + " is not a multiple of head_count " + std::to_string(c.n_heads));
  if (c.n_heads % c.n_kv_heads != 0)
    throw InputError(f.path() + ": head_count " + std::to_string(c.n_heads) + " is not a multiple of head_count_kv " + std::to_string(c.n_kv_heads));
  c.head_dim = c.dim / c.n_heads;
  c.rope_dim = f.get_uint(p + "rope.dimension_count") ? required_positive(f, p + "rope.dimension_count") : c.head_dim;
  if (c.rope_dim > c.head_dim || c.rope_dim % 2 != 0)
    throw InputError(f.path() + ": rope.dimension_count " + std::to_string(c.rope_dim) + " must be even and at most the head size " + std::to_string(c.head_dim));
  c.rope_base = f.get_float(p + "rope.freq_base").value_or(10000.0);
  if (!(c.rope_base > 1.0) || !std::isfinite(c.rope_base)) throw InputError(f.path() + ": rope.freq_base must be > 1");
  c.rms_eps = static_cast<float>(f.get_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5));
  if (!(c.rms_eps > 0.f) || !std::isfinite(c.rms_eps)) throw InputError(f.path() + ": layer_norm_rms_epsilon must be > 0");
  if (auto v = f.get_uint(p + "vocab_size")) {
    c.n_vocab = static_cast<int64_t>(*v);
  } else if (const auto* tokens = f.get_array("tokenizer.ggml.tokens")) {
    c.n_vocab = static_cast<int64_t>(tokens->items.size());
  } else if (const auto* emb = f.find_tensor("token_embd.weight"); emb && emb->shape.size() == 2) {
    c.n_vocab = emb->shape[1];
  }
  if (c.n_vocab <= 0) throw InputError(f.path() + ": cannot determine the vocabulary size");
  return c;
}

std::vector<float> rope_frequencies(const LlamaConfig& c, const float* freq_factors) {
  std::vector<float> freqs(c.rope_dim / 2);
  for (size_t i = 0; i < freqs.size(); ++i) {
    double f = std::pow(c.rope_base, -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dim));
    if (freq_factors) f /= freq_factors[i];
    freqs[i] = static_cast<float>(f);
  }
  return freqs;
}

}  // namespace greta
