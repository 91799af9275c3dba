#include "audit/span_gate.h"

#include <algorithm>
#include <cmath>

#include "audit/reference.h"
#include "sampling/sampler.h"

namespace greta::audit {

SpanGate run_span_gate(LlamaModel& model, const std::vector<int32_t>& prompt, Session& decoder,
                       std::vector<float> logits, int steps, const AuditOptions& o) {
  SpanGate g;
  g.ran = true;
  g.steps = steps;
  const int64_t V = model.config().n_vocab;
  std::vector<float> decoded;  // [steps][V]: logits at positions N-1 .. N+steps-2
  for (int i = 0; i < steps; ++i) {
    decoded.insert(decoded.end(), logits.begin(), logits.end());
    g.decode_tokens.push_back(sampling::argmax(logits));
    if (i + 1 < steps) logits = decoder.decode(g.decode_tokens.back());
  }
  std::vector<int32_t> all(prompt);
  all.insert(all.end(), g.decode_tokens.begin(), g.decode_tokens.end() - 1);
  Session p(model, static_cast<int64_t>(all.size()));
  p.hooks() = {nullptr, &o.faults, o.routes};
  const auto full = p.prefill(all, LogitsRows::All);
  const std::vector<float> prefilled(full.end() - static_cast<int64_t>(steps) * V, full.end());

  std::vector<double> diffs;
  diffs.reserve(prefilled.size());
  for (size_t i = 0; i < prefilled.size(); ++i) diffs.push_back(std::fabs(double(prefilled[i]) - decoded[i]));
  for (int i = 0; i < steps; ++i) {
    const auto row = prefilled.begin() + static_cast<int64_t>(i) * V;
    const auto [lo, hi] = std::minmax_element(row, row + V);
    const double range = double(*hi) - double(*lo);
    const double worst = *std::max_element(diffs.begin() + static_cast<int64_t>(i) * V, diffs.begin() + (i + 1) * V);
    if (range > 0) g.max_rel = std::max(g.max_rel, worst / range);
  }
  std::sort(diffs.begin(), diffs.end());
  g.max_abs = diffs.empty() ? 0 : diffs.back();
  g.p99_abs = diffs.empty() ? 0 : diffs[static_cast<size_t>(0.99 * (diffs.size() - 1))];
  const auto c = compare_logits(prefilled, decoded, V, o.span_gap);
  g.mean_kl = c.mean_kl;
  g.top1_agreement = c.top1_agreement_confident;
  int same_as_first = 0, prefill_disagrees = 0;
  for (int i = 0; i < steps; ++i) {
    same_as_first += g.decode_tokens[i] == g.decode_tokens[0];
    prefill_disagrees += c.per_position[i].ref_top1 != g.decode_tokens[i];
  }
  g.collapse = steps >= 4 && same_as_first == steps && 2 * prefill_disagrees > steps;
  g.passed = !(g.mean_kl > o.span_max_mean_kl) && g.top1_agreement >= kSpanMinTop1 && !g.collapse;
  return g;
}

}  // namespace greta::audit
