// Every preset × type combination small enough for CI loads and runs a prefill and a
// decode with finite logits whose top-1/top-2 gaps are not all zero, and whose top-1
// changes with the input (random weights must not let one token win everywhere).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf_file.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "synth/builtin_model.h"
#include "synth/synth.h"

using namespace greta;
using namespace greta::synth;

namespace {

struct RowSummary {
  int32_t top1 = -1;
  float gap = 0;  // top-1 minus top-2 logit
  bool finite = true;
};

RowSummary summarize_row(const float* row, int64_t n) {
  RowSummary s;
  float best = -INFINITY, second = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(row[i])) s.finite = false;
    if (row[i] > best) {
      second = best;
      best = row[i];
      s.top1 = static_cast<int32_t>(i);
    } else if (row[i] > second) {
      second = row[i];
    }
  }
  s.gap = best - second;
  return s;
}

// Prefills a prompt (all rows' logits), then decodes a few greedy tokens.
void check_model_runs(std::vector<uint8_t> bytes, const std::string& label) {
  SCOPED_TRACE(label);
  cpu::CpuBackend backend(2);
  LlamaModel model(gguf::GgufFile::from_bytes(std::move(bytes), label), backend);
  const int64_t vocab = model.config().n_vocab;
  std::vector<int32_t> prompt;
  for (int i = 0; i < 12; ++i) prompt.push_back(static_cast<int32_t>((i * 7919 + 13) % vocab));

  Session session(model, 64);
  const std::vector<float> all = session.prefill(prompt, LogitsRows::All);
  ASSERT_EQ(all.size(), prompt.size() * static_cast<size_t>(vocab));
  std::set<int32_t> top1s;
  int nonzero_gaps = 0;
  for (size_t r = 0; r < prompt.size(); ++r) {
    const RowSummary s = summarize_row(all.data() + r * vocab, vocab);
    EXPECT_TRUE(s.finite) << "prefill row " << r;
    top1s.insert(s.top1);
    nonzero_gaps += s.gap > 0;
  }
  RowSummary last = summarize_row(all.data() + (prompt.size() - 1) * vocab, vocab);
  for (int step = 0; step < 4; ++step) {
    const std::vector<float> logits = session.decode(last.top1);
    last = summarize_row(logits.data(), vocab);
    EXPECT_TRUE(last.finite) << "decode step " << step;
    nonzero_gaps += last.gap > 0;
  }
  EXPECT_GT(nonzero_gaps, 0);
  EXPECT_GE(top1s.size(), 3u) << "one token wins almost everywhere";
}

}  // namespace

TEST(SynthModelsRun, TinyPresetEveryTypePrefillsAndDecodes) {
  for (const char* type : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "q4_k_m"}) {
    SynthOptions o;
    o.shape = preset("tiny");
    o.type = WeightType::parse(type);
    check_model_runs(build_writer(o).write_bytes(), std::string("tiny ") + type);
  }
}

TEST(SynthModelsRun, TiedAndMixedModelsRun) {
  SynthOptions o;
  o.shape = preset("tiny");
  o.type = WeightType::parse("q4_k_m");
  o.tied = true;
  o.type_for.insert(parse_type_override("attn_k=q5_k"));
  o.type_for.insert(parse_type_override("ffn_up=bf16"));
  check_model_runs(build_writer(o).write_bytes(), "tiny q4_k_m tied + overrides");
}

TEST(SynthModelsRun, BuiltinModelRuns) { check_model_runs(builtin_model_bytes(), "builtin"); }

TEST(SynthModelsRun, BuiltinModelWritesVariedPrintableText) {
  cpu::CpuBackend backend(1);
  LlamaModel model(gguf::GgufFile::from_bytes(builtin_model_bytes(), "builtin"), backend);
  // Byte tokens start at 3; token 259 is "▁" (a space).
  auto printable = [](int32_t t) { return t == 259 || (t >= 3 + 0x21 && t < 3 + 0x7F); };
  std::set<std::vector<int32_t>> continuations;
  for (const std::vector<int32_t>& prompt : {std::vector<int32_t>{1, 259, 3 + 'O', 3 + 'n', 3 + 'c', 3 + 'e'},
                                             std::vector<int32_t>{1, 259, 3 + 'H', 3 + 'i'},
                                             std::vector<int32_t>{1, 259, 3 + 'T', 3 + 'h', 3 + 'e', 259, 3 + 'd'}}) {
    Session s(model, 128);
    auto logits = s.prefill(prompt);
    std::vector<int32_t> out;
    for (int i = 0; i < 48; ++i) {
      const int32_t t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      out.push_back(t);
      logits = s.decode(t);
    }
    const auto n_printable = std::count_if(out.begin(), out.end(), printable);
    EXPECT_GE(n_printable, 45) << "greedy text should be printable";
    EXPECT_GE(std::set<int32_t>(out.begin(), out.end()).size(), 4u) << "greedy text should not be one repeated byte";
    continuations.insert(out);
  }
  EXPECT_EQ(continuations.size(), 3u) << "different prompts should continue differently";
}
