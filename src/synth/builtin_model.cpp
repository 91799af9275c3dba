#include "synth/builtin_model.h"

#include <array>
#include <cmath>
#include <string>

#include "synth/synth.h"

namespace greta::synth {
namespace {

constexpr uint64_t kBuiltinSeed = 20240611;
// <unk>, <s>, </s>, then <0x00>..<0xFF>, then "▁" (U+2581). SentencePiece writes every
// space of a prompt as "▁"; without a token for it, a space would fall back to the three
// bytes of U+2581 and decode as "▁" instead of " ". With it, the model speaks in "▁" for
// spaces, as Llama 2 does, and byte 0x20 is never needed.
constexpr int kFirstByteToken = 3;
constexpr int kSpaceToken = kFirstByteToken + 256;
constexpr int kVocab = kSpaceToken + 1;

// llama.cpp's token types.
constexpr int32_t kTypeNormal = 1, kTypeUnknown = 2, kTypeControl = 3, kTypeByte = 6;

// Why the weights are shaped and not purely random: with pure noise the model emits
// arbitrary bytes (mostly invalid UTF-8 and control characters) and greedy decoding sticks
// to one token. So every token embedding carries one shared component (coordinate 0),
// which survives the residual stream and the final norm as a near-constant feature, and
// each output row weighs that feature by the log-frequency of its byte in English text.
// The remaining random part of the output rows makes the choice depend on the context.
// The result reads like letter soup with English statistics: varied, printable, and
// different for different prompts.
constexpr float kSharedEmbedding = 1.0f;   // coordinate 0 of every embedding
constexpr float kMatrixStddev = 0.06f;     // attention and FFN matrices
constexpr float kOutputNoise = 0.12f;      // random part of the output rows
constexpr float kPriorScale = 0.3f;        // output weight on coordinate 0 per unit log-frequency

// Relative frequency of a byte in English prose (space and lower-case letters dominate).
float byte_frequency(int b) {
  static constexpr std::array<float, 26> kLetters = {
      8.2f, 1.5f, 2.8f, 4.3f, 12.7f, 2.2f, 2.0f, 6.1f, 7.0f, 0.15f, 0.77f, 4.0f, 2.4f,  // a..m
      6.7f, 7.5f, 1.9f, 0.095f, 6.0f, 6.3f, 9.1f, 2.8f, 0.98f, 2.4f, 0.15f, 2.0f, 0.074f};  // n..z
  if (b == ' ') return 18.0f;
  if (b >= 'a' && b <= 'z') return kLetters[static_cast<size_t>(b - 'a')];
  if (b >= 'A' && b <= 'Z') return kLetters[static_cast<size_t>(b - 'A')] * 0.06f;
  if (b == '.' || b == ',') return 1.0f;
  if (b == '\n') return 0.4f;
  if (b == '\'' || b == '"' || b == '!' || b == '?' || b == '-' || b == ';' || b == ':') return 0.08f;
  if (b >= '0' && b <= '9') return 0.05f;
  if (b > ' ' && b < 0x7F) return 0.01f;
  return 0.0f;  // control characters and bytes >= 0x80 (which alone are not valid UTF-8)
}

// The logit prior of a token, in natural-log units.
float token_prior(int token) {
  if (token == 2) return std::log(0.02f);  // </s>: rare, so generations run on for a while
  if (token < kFirstByteToken) return -12.0f;
  if (token == kSpaceToken) return std::log(byte_frequency(' ') / 100.0f);
  const int byte = token - kFirstByteToken;
  if (byte == ' ') return -12.0f;  // spaces come as "▁"
  const float f = byte_frequency(byte);
  return f > 0.0f ? std::log(f / 100.0f) : -12.0f;
}

void add_byte_vocabulary(gguf::GgufWriter& w) {
  using gguf::Value;
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {kTypeUnknown, kTypeControl, kTypeControl};
  static const char* kHex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', '\0'};
    tokens.emplace_back(name);
    types.push_back(kTypeByte);
  }
  tokens.push_back("\xE2\x96\x81");  // "▁"
  types.push_back(kTypeNormal);
  w.set("tokenizer.ggml.model", Value::string("llama"));
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("tokenizer.ggml.scores", Value::f32_array(std::vector<float>(tokens.size(), 0.0f)));
  w.set("tokenizer.ggml.token_type", Value::i32_array(types));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(2));
  w.set("tokenizer.ggml.unknown_token_id", Value::u32(0));
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(true));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(false));
  w.set("tokenizer.ggml.add_space_prefix", Value::boolean(true));
}

RowAdjust builtin_adjust(const PlannedTensor& t) {
  if (t.role == TensorRole::TokenEmbd)
    return [](int64_t, float* v, int64_t) { v[0] += kSharedEmbedding; };
  if (t.role == TensorRole::Output)
    return [](int64_t row, float* v, int64_t n) {
      const float noise_scale = kOutputNoise / kMatrixStddev;
      for (int64_t i = 0; i < n; ++i) v[i] *= noise_scale;
      v[0] = kPriorScale * token_prior(static_cast<int>(row));
    };
  return {};
}

}  // namespace

SynthShape builtin_shape() { return {kVocab, 128, 4, 4, 2, 384, 512, 10000.0f}; }

std::vector<uint8_t> builtin_model_bytes() {
  // F32 rather than Q8_0: the model is under 4 MB either way and is built in memory, and
  // exact weights make it the cleanest subject for decode/prefill audits (no weight
  // rounding enters the error budget) and for comparisons with float64 references.
  const SynthShape shape = builtin_shape();
  const WeightType type{false, TensorType::F32};
  const std::vector<PlannedTensor> plan = plan_tensors(shape, TypeChoice{type, {}, false});
  gguf::GgufWriter w;
  add_llama_metadata(w, shape, type, "greta-builtin (synthetic)", false);
  add_byte_vocabulary(w);
  // One thread: the bytes do not depend on it, and spawning costs more than this model.
  add_synth_tensors(w, plan, kBuiltinSeed, kMatrixStddev, 1, builtin_adjust);
  return w.write_bytes();
}

}  // namespace greta::synth
