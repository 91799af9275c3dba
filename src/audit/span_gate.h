#pragma once
// The logits span gate (GRETA CORE B3.69): generate N tokens by decode, then prefill
// prompt + generated once and compare the logits at those N positions.
#include <vector>

#include "audit/audit.h"
#include "model/session.h"

namespace greta::audit {

// Top-1 must agree at every position whose prefill top-1/top-2 gap is at least the
// options' span_gap; the mean KL must stay within span_max_mean_kl (both resolved).
inline constexpr double kSpanMinTop1 = 1.0;

// `decoder` has just decoded the last prompt token (decode0), giving `decode0_logits`.
SpanGate run_span_gate(LlamaModel& model, const std::vector<int32_t>& prompt, Session& decoder,
                       std::vector<float> decode0_logits, int steps, const AuditOptions& options);

}  // namespace greta::audit
