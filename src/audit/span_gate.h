#pragma once
// The logits span gate (GRETA CORE B3.69): generate N tokens by decode, then prefill
// prompt + generated once and compare the logits at those N positions.
#include <vector>

#include "audit/audit.h"
#include "model/session.h"

namespace greta::audit {

// Thresholds for the CPU backend's precision class (f32 activations, same reduction order
// in both routes): the two paths may differ only by rounding.
inline constexpr double kSpanMaxMeanKl = 1e-5;
inline constexpr double kSpanMinTop1 = 1.0;       // over positions whose prefill top-1/top-2 gap ≥ kSpanGap
inline constexpr double kSpanGap = 1e-3;

// `decoder` has just decoded the last prompt token (decode0), giving `decode0_logits`.
SpanGate run_span_gate(LlamaModel& model, const std::vector<int32_t>& prompt, Session& decoder,
                       std::vector<float> decode0_logits, int steps, const AuditOptions& options);

}  // namespace greta::audit
