#pragma once
// Runs a prompt and greedy decode steps with or without a probe, for the fused-op tests:
// with no probe the forward fuses stage pairs; a probe that records nothing forces the
// stage-by-stage path while computing the same thing.
#include <algorithm>
#include <vector>

#include "model/llama_model.h"
#include "model/session.h"
#include "trace/probe.h"

namespace greta::test {

// Wants nothing: its only effect is that the model sees a probe attached.
class IdleProbe final : public trace::Probe {
 public:
  bool wants(trace::Point, int, int32_t) const override { return false; }
  void record(trace::Point, int, int32_t, const float*, int64_t) override {}
};

// The logits of the prompt's last row, then of each decode step, feeding `tokens` when
// given (so that two runs decode the same tokens) or else the greedy choice.
inline std::vector<std::vector<float>> logits_of_run(LlamaModel& model, const std::vector<int32_t>& prompt, int steps,
                                                     trace::Probe* probe, std::vector<int32_t>* tokens) {
  Session s(model, static_cast<int64_t>(prompt.size()) + steps + 1);
  s.hooks().probe = probe;
  std::vector<std::vector<float>> out{s.prefill(prompt)};
  for (int i = 0; i < steps; ++i) {
    const auto& last = out.back();
    if (static_cast<int>(tokens->size()) <= i)
      tokens->push_back(static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin()));
    out.push_back(s.decode((*tokens)[i]));
  }
  return out;
}

// A prompt of n ids spread over the vocabulary.
inline std::vector<int32_t> spread_prompt(const LlamaModel& model, int n) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back(static_cast<int32_t>((1 + 37 * i) % model.config().n_vocab));
  return p;
}

}  // namespace greta::test
