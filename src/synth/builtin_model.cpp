#include "synth/builtin_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

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
// arbitrary bytes (mostly invalid UTF-8 and control characters), and greedy decoding
// settles on repeating one token. Three small structures fix that while every weight
// stays random:
//  * a bias channel: coordinate 0 of every embedding is a constant, no layer reads it
//    (column 0 of the q/k/v/gate/up matrices is zero) and no layer writes it (row 0 of
//    attn_output/ffn_down is zero), so it reaches the final norm untouched;
//  * each output row weighs that channel by the log-frequency of its byte in English
//    text, so printable letters and spaces are likely and control bytes are not;
//  * each output row also holds minus its own token's embedding, so the token just read
//    is discouraged and greedy decoding moves on instead of repeating it.
// The rest of each output row is noise, so the choice still depends on the context.
// The text reads like letter soup with English statistics: varied, printable, and
// different for different prompts.
struct Tuning {
  float matrix_stddev = 0.06f;  // attention and FFN matrices
  float embed_stddev = 0.5f;    // token embeddings (coordinates 1..dim-1)
  float bias_channel = 0.5f;    // coordinate 0 of every embedding
  float output_noise = 0.08f;   // random part of the output rows: ~1 logit of context noise
  // The bias channel reaches the final norm's output at about bias_channel / rms(x) ≈ 0.5,
  // so 2 per unit log-frequency gives logits ≈ 1 × log-frequency.
  float prior_weight = 2.0f;
  // The read token's own logit drops by about self_inhibit × |e|² / rms(x) ≈ 3; for other
  // tokens the term is ~0.5 logits of extra noise.
  float self_inhibit = 0.1f;    // output row -= this × its token's embedding
};
// (Measured with the CPU backend: greedy and sampled text from different prompts differ,
// stay printable and do not collapse onto one byte.)
constexpr Tuning kTuning;

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
  if (token == 2) return std::log(0.002f);  // </s>: rare, so generations run on for a while
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

// Regenerates a token's embedding row exactly as the token_embd tensor holds it.
void embedding_row(uint64_t embd_seed, int64_t token, float* v, int64_t n) {
  generate_row(embd_seed, token, {0.0f, kTuning.embed_stddev}, v, n);
  v[0] = kTuning.bias_channel;
}

// Rows arrive drawn with matrix_stddev; these adjustments give each tensor its role.
RowAdjust builtin_adjust(const PlannedTensor& t, uint64_t embd_seed) {
  switch (t.role) {
    case TensorRole::TokenEmbd:
      return [embd_seed](int64_t row, float* v, int64_t n) { embedding_row(embd_seed, row, v, n); };
    case TensorRole::AttnQ:
    case TensorRole::AttnK:
    case TensorRole::AttnV:
    case TensorRole::FfnGate:
    case TensorRole::FfnUp:
      return [](int64_t, float* v, int64_t) { v[0] = 0.0f; };  // never read the bias channel
    case TensorRole::AttnOutput:
    case TensorRole::FfnDown:
      return [](int64_t row, float* v, int64_t n) {  // never write it
        if (row == 0) std::fill(v, v + n, 0.0f);
      };
    case TensorRole::Output:
      return [embd_seed](int64_t row, float* v, int64_t n) {
        std::vector<float> e(static_cast<size_t>(n));
        embedding_row(embd_seed, row, e.data(), n);
        const float noise_scale = kTuning.output_noise / kTuning.matrix_stddev;
        for (int64_t i = 1; i < n; ++i) v[i] = v[i] * noise_scale - kTuning.self_inhibit * e[static_cast<size_t>(i)];
        v[0] = kTuning.prior_weight * token_prior(static_cast<int>(row));
      };
    default:
      return {};
  }
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
  const uint64_t embd_seed = tensor_seed(kBuiltinSeed, 0);  // token_embd is the plan's first tensor
  add_synth_tensors(w, plan, kBuiltinSeed, kTuning.matrix_stddev, 1,
                    [embd_seed](const PlannedTensor& t) { return builtin_adjust(t, embd_seed); });
  return w.write_bytes();
}

}  // namespace greta::synth
