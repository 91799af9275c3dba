// Llama 3.1 rope scaling: a `rope_freqs.weight` tensor divides each pair's frequency.
// The model is the built-in one rewritten with such a tensor; the rotation is checked
// against angles computed here from the published formula.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/session.h"
#include "synth/builtin_model.h"

namespace greta {
namespace {

// Records q (before RoPE) and q_rope of layer 0 at one position.
struct QProbe : trace::Probe {
  int32_t pos;
  std::vector<float> q, q_rope;
  explicit QProbe(int32_t p) : pos(p) {}
  bool wants(trace::Point p, int layer, int32_t at) const override {
    return layer == 0 && at == pos && (p == trace::Point::q || p == trace::Point::q_rope);
  }
  void record(trace::Point p, int, int32_t, const float* row, int64_t n) override {
    (p == trace::Point::q ? q : q_rope).assign(row, row + n);
  }
};

std::vector<uint8_t> with_rope_freqs(const std::vector<float>& factors) {
  const auto src = gguf::GgufFile::from_bytes(synth::builtin_model_bytes(), "builtin");
  gguf::GgufWriter w(src.alignment());
  for (const auto& kv : src.metadata())
    if (kv.key != "general.alignment") w.set(kv.key, kv.value);
  for (const auto& t : src.tensors()) {
    const uint8_t* data = src.tensor_data(t);
    w.add_tensor(t.name, t.type, t.shape, [data](std::span<uint8_t> dst) { std::memcpy(dst.data(), data, dst.size()); });
  }
  w.add_tensor("rope_freqs.weight", TensorType::F32, {static_cast<int64_t>(factors.size())},
               [factors](std::span<uint8_t> dst) { std::memcpy(dst.data(), factors.data(), dst.size()); });
  return w.write_bytes();
}

TEST(RopeFreqs, FactorsDivideEachPairsFrequency) {
  cpu::CpuBackend backend(1);
  const auto plain = gguf::GgufFile::from_bytes(synth::builtin_model_bytes(), "builtin");
  const int64_t head_dim = *plain.get_uint("llama.embedding_length") / *plain.get_uint("llama.attention.head_count");
  const int64_t rope_dim = plain.get_uint("llama.rope.dimension_count").value_or(head_dim);
  const double base = plain.get_float("llama.rope.freq_base").value_or(10000.0);
  std::vector<float> factors(rope_dim / 2);
  for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + static_cast<float>(i % 4);  // 1, 2, 3, 4, 1, ...

  LlamaModel model(gguf::GgufFile::from_bytes(with_rope_freqs(factors), "scaled"), backend);
  ASSERT_EQ(model.weights().rope_freq_factors, factors);
  const int32_t pos = 5;
  QProbe probe(pos);
  Session s(model, 16);
  s.hooks().probe = &probe;
  s.prefill(std::vector<int32_t>{1, 70, 80, 90, 100, 110});
  ASSERT_EQ(probe.q.size(), probe.q_rope.size());
  for (size_t h = 0; h < probe.q.size() / head_dim; ++h)
    for (int64_t i = 0; i < rope_dim / 2; ++i) {
      const double theta = pos * std::pow(base, -2.0 * i / rope_dim) / factors[i];
      const size_t j = h * head_dim + 2 * i;
      const double a = probe.q[j], b = probe.q[j + 1];
      EXPECT_NEAR(probe.q_rope[j], a * std::cos(theta) - b * std::sin(theta), 1e-5 * (std::fabs(a) + std::fabs(b)) + 1e-7);
      EXPECT_NEAR(probe.q_rope[j + 1], a * std::sin(theta) + b * std::cos(theta), 1e-5 * (std::fabs(a) + std::fabs(b)) + 1e-7);
    }
}

TEST(RopeFreqs, WrongLengthIsRefused) {
  cpu::CpuBackend backend(1);
  EXPECT_THROW(LlamaModel(gguf::GgufFile::from_bytes(with_rope_freqs({1.0f, 2.0f, 3.0f}), "bad"), backend), InputError);
}

}  // namespace
}  // namespace greta
