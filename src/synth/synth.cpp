#include "synth/synth.h"

#include <chrono>
#include <cmath>
#include <optional>

#include "synth/vocab_embedding.h"

namespace greta::synth {
namespace {

TypeChoice type_choice(const SynthOptions& o) { return {o.type, o.type_for, o.tied}; }

bool any_quantized(const std::vector<PlannedTensor>& plan) {
  for (const auto& t : plan)
    if (type_traits(t.type).block_size > 1) return true;
  return false;
}

std::string default_name(const SynthOptions& o) {
  const SynthShape& s = o.shape;
  return "greta-synth " + std::to_string(s.layers) + "x" + std::to_string(s.dim) + " vocab " +
         std::to_string(s.vocab) + " " + o.type.name() + " seed " + std::to_string(o.seed);
}

// Norm weights sit near 1 so RMS norm keeps activations at unit scale; matrices are
// zero-mean noise. 0.03 keeps every layer's output finite for the presets' sizes while
// logits still spread over several units, so no single token wins everywhere.
WeightDistribution distribution_for(const PlannedTensor& t, float weight_stddev) {
  if (is_norm(t.role)) return {1.0f, 0.02f};
  return {0.0f, weight_stddev};
}

struct BuiltModel {
  gguf::GgufWriter writer;
  std::vector<PlannedTensor> plan;
};

BuiltModel build(const SynthOptions& options);

}  // namespace

std::vector<PlannedTensor> plan_tensors(const SynthOptions& options) {
  return plan_tensors(options.shape, type_choice(options));
}

gguf::GgufWriter build_writer(const SynthOptions& options) { return build(options).writer; }

namespace {

BuiltModel build(const SynthOptions& options) {
  SynthOptions o = options;
  std::optional<VocabEmbedding> vocab;
  if (!o.vocab_path.empty()) {
    vocab = load_vocab_embedding(o.vocab_path);
    o.shape.vocab = vocab->size;
  }
  std::vector<PlannedTensor> plan = plan_tensors(o);

  gguf::GgufWriter w;
  add_llama_metadata(w, o.shape, o.type, o.name.empty() ? default_name(o) : o.name, any_quantized(plan));
  if (vocab)
    vocab->write(w);
  else
    w.set("tokenizer.ggml.model", gguf::Value::string("no_vocab"));
  add_synth_tensors(w, plan, o.seed, o.weight_stddev, o.threads);
  return {std::move(w), std::move(plan)};
}

}  // namespace

void add_llama_metadata(gguf::GgufWriter& w, const SynthShape& s, const WeightType& type, const std::string& name,
                        bool quantized) {
  using gguf::Value;
  auto u32 = [](int64_t v) { return Value::u32(static_cast<uint32_t>(v)); };  // validate_shape bounds them
  w.set("general.architecture", Value::string("llama"));
  w.set("general.name", Value::string(name));
  w.set("general.file_type", Value::u32(type.file_type()));
  if (quantized) w.set("general.quantization_version", Value::u32(2));
  w.set("llama.vocab_size", u32(s.vocab));
  w.set("llama.context_length", u32(s.ctx));
  w.set("llama.embedding_length", u32(s.dim));
  w.set("llama.block_count", u32(s.layers));
  w.set("llama.feed_forward_length", u32(s.ffn));
  w.set("llama.attention.head_count", u32(s.heads));
  w.set("llama.attention.head_count_kv", u32(s.kv_heads));
  w.set("llama.rope.dimension_count", u32(s.head_dim()));
  w.set("llama.rope.freq_base", Value::f32(s.rope_base));
  w.set("llama.attention.layer_norm_rms_epsilon", Value::f32(1e-5f));
}

void add_synth_tensors(gguf::GgufWriter& w, const std::vector<PlannedTensor>& plan, uint64_t seed,
                       float weight_stddev, int threads, const AdjustFor& adjust_for) {
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& t = plan[i];
    const uint64_t tseed = tensor_seed(seed, i);
    const WeightDistribution dist = distribution_for(t, weight_stddev);
    const int64_t row_len = t.shape[0], n_rows = t.n_elements() / t.shape[0];
    const TensorType type = t.type;
    RowAdjust adjust = adjust_for ? adjust_for(t) : RowAdjust{};
    // Captured by value: the writer calls these long after this function returns.
    w.add_tensor(t.name, t.type, t.shape, [=](std::span<uint8_t> dst) {
      fill_tensor(dst, type, row_len, n_rows, tseed, dist, threads, adjust);
    });
  }
}

SynthSummary summarize(const std::vector<PlannedTensor>& plan) {
  SynthSummary s;
  s.n_tensors = static_cast<int64_t>(plan.size());
  for (const auto& t : plan) {
    s.n_params += t.n_elements();
    s.weight_bytes += static_cast<uint64_t>(t.n_bytes());
  }
  return s;
}

SynthSummary write_synth_model(const SynthOptions& options, const std::string& path,
                               const gguf::GgufWriter::Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  // The vocabulary file may change the vocabulary size, so the summary comes from the
  // plan the writer was built from, not from options.shape.
  const BuiltModel m = build(options);
  SynthSummary s = summarize(m.plan);
  m.writer.write_file(path, progress);
  s.file_bytes = m.writer.total_bytes();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

}  // namespace greta::synth
