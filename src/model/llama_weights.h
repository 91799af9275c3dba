#pragma once
// The tensors of a Llama model, bound by name from a GGUF file and uploaded to a backend.
#include <vector>

#include "model/backend.h"
#include "model/llama_config.h"

namespace greta::gguf { class GgufFile; }

namespace greta {

struct LayerWeights {
  Weight attn_norm, wq, wk, wv, wo;
  Weight ffn_norm, w_gate, w_up, w_down;
};

struct LlamaWeights {
  Weight token_embd;
  std::vector<LayerWeights> layers;
  Weight output_norm;
  Weight output;        // token_embd when the model ties its embeddings
  bool tied = false;
  std::vector<float> rope_freq_factors;  // Llama 3.1 `rope_freqs.weight`, empty if absent

  // Checks every tensor's presence, type and shape against the config; InputError names the tensor.
  static LlamaWeights bind(const gguf::GgufFile& file, const LlamaConfig& config, Backend& backend);
};

}  // namespace greta
