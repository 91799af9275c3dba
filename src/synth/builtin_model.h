#pragma once
// The model greta runs when no -m is given: a small random-weight Llama with a byte-level
// SentencePiece vocabulary, generated in memory in a few milliseconds.
#include <cstdint>
#include <vector>

#include "synth/synth_shape.h"

namespace greta::synth {

// Its shape: vocab 260 (<unk> <s> </s>, 256 byte tokens, "▁"), dim 128, 4 layers, 4 heads,
// 2 kv heads, ffn 384, ctx 512.
SynthShape builtin_shape();

// The complete GGUF file (F32 weights), identical on every call and every machine.
std::vector<uint8_t> builtin_model_bytes();

}  // namespace greta::synth
