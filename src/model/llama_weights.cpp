#include "model/llama_weights.h"

#include <cstring>

#include "gguf/gguf_file.h"
#include "quant/quant.h"

namespace greta {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// A matrix in ggml order [cols (input features), rows (output features)].
Weight bind_matrix(const gguf::GgufFile& f, Backend& be, const std::string& name, int64_t cols, int64_t rows) {
  const auto* t = f.find_tensor(name);
  if (!t) throw InputError(f.path() + ": missing tensor " + name);
  if (t->shape.size() != 2 || t->shape[0] != cols || t->shape[1] != rows)
    throw InputError(f.path() + ": tensor " + name + " has shape " + shape_str(t->shape) + ", expected " +
                     shape_str({cols, rows}));
  return be.upload(t->type, f.tensor_data(*t), rows, cols);
}

// A norm weight: a vector of `n` f32 values.
Weight bind_vector(const gguf::GgufFile& f, Backend& be, const std::string& name, int64_t n) {
  const auto* t = f.find_tensor(name);
  if (!t) throw InputError(f.path() + ": missing tensor " + name);
  if (t->n_elements() != n)
    throw InputError(f.path() + ": tensor " + name + " has shape " + shape_str(t->shape) + ", expected [" + std::to_string(n) + "]");
  if (t->type != TensorType::F32)
    throw InputError(f.path() + ": tensor " + name + " must be f32, found " + std::string(type_traits(t->type).name));
  return be.upload(t->type, f.tensor_data(*t), 1, n);
}

}  // namespace

LlamaWeights LlamaWeights::bind(const gguf::GgufFile& f, const LlamaConfig& c, Backend& be) {
  LlamaWeights w;
  w.token_embd = bind_matrix(f, be, "token_embd.weight", c.dim, c.n_vocab);
  w.output_norm = bind_vector(f, be, "output_norm.weight", c.dim);
  if (f.find_tensor("output.weight")) {
    w.output = bind_matrix(f, be, "output.weight", c.dim, c.n_vocab);
  } else {
    w.output = w.token_embd;
    w.tied = true;
  }
  if (const auto* rf = f.find_tensor("rope_freqs.weight")) {
    if (rf->type != TensorType::F32 || rf->n_elements() != c.rope_dim / 2)
      throw InputError(f.path() + ": tensor rope_freqs.weight must be f32 with " + std::to_string(c.rope_dim / 2) + " values");
    w.rope_freq_factors.resize(c.rope_dim / 2);
    std::memcpy(w.rope_freq_factors.data(), f.tensor_data(*rf), w.rope_freq_factors.size() * sizeof(float));
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = bind_vector(f, be, b + "attn_norm.weight", c.dim);
    L.wq = bind_matrix(f, be, b + "attn_q.weight", c.dim, c.q_dim());
    L.wk = bind_matrix(f, be, b + "attn_k.weight", c.dim, c.kv_dim());
    L.wv = bind_matrix(f, be, b + "attn_v.weight", c.dim, c.kv_dim());
    L.wo = bind_matrix(f, be, b + "attn_output.weight", c.q_dim(), c.dim);
    L.ffn_norm = bind_vector(f, be, b + "ffn_norm.weight", c.dim);
    L.w_gate = bind_matrix(f, be, b + "ffn_gate.weight", c.dim, c.n_ffn);
    L.w_up = bind_matrix(f, be, b + "ffn_up.weight", c.dim, c.n_ffn);
    L.w_down = bind_matrix(f, be, b + "ffn_down.weight", c.n_ffn, c.dim);
    w.layers.push_back(L);
  }
  return w;
}

}  // namespace greta
