#pragma once
// The hyperparameters of a synthetic Llama model, and the named presets.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace greta::synth {

struct SynthShape {
  int64_t vocab = 4096;
  int64_t dim = 256;       // embedding length
  int64_t layers = 4;
  int64_t heads = 8;
  int64_t kv_heads = 4;
  int64_t ffn = 768;       // feed-forward length
  int64_t ctx = 2048;      // context length
  float rope_base = 10000.0f;

  int64_t head_dim() const { return dim / heads; }
  int64_t kv_dim() const { return head_dim() * kv_heads; }
};

// "tiny", "llama3-1b", "llama3-8b", "llama2-7b". Throws InputError naming the known ones.
SynthShape preset(std::string_view name);
std::vector<std::string> preset_names();

// "vocab,dim,layers,heads,kv_heads,ffn,ctx,rope_base" (the form `--shape` takes).
// Throws InputError on a malformed list.
SynthShape parse_shape(std::string_view spec);

// Throws InputError when the numbers cannot make a Llama model (heads not dividing dim,
// kv_heads not dividing heads, odd head size for RoPE, non-positive sizes).
void validate_shape(const SynthShape& shape);

}  // namespace greta::synth
