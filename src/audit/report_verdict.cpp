// The audit's outcome as names and an exit code, and the per-point maxima the summary
// table prints.
#include <cmath>
#include <limits>

#include "audit/audit.h"

namespace greta::audit {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Exact: return "EXACT";
    case Verdict::Pass: return "PASS";
    case Verdict::Drift: return "DRIFT";
    case Verdict::Mismatch: return "MISMATCH";
  }
  return "UNKNOWN";
}

// NaN wins over any number: a NaN error means a run produced garbage, which the maximum
// must not hide. 0 when the point was not recorded (the table checks presence itself).
double PromptAudit::max_mae(trace::Point p) const {
  double worst = 0;
  for (const auto& s : stages) {
    if (s.id.point != p) continue;
    if (std::isnan(s.mae)) return std::numeric_limits<double>::quiet_NaN();
    if (s.mae > worst) worst = s.mae;
  }
  return worst;
}

int AuditReport::exit_code() const {
  auto verdict_fails = [&](Verdict v) {
    return v == Verdict::Mismatch || (v == Verdict::Drift && !allow_drift);
  };
  if (verdict_fails(verdict) || collapse || !repeat_identical) return 1;
  for (const auto& p : prompts) {
    if (verdict_fails(p.verdict) || p.collapse) return 1;
    if (p.span.ran && (!p.span.passed || p.span.collapse)) return 1;
    if (p.cross.ran && !p.cross.passed) return 1;
  }
  return 0;
}

}  // namespace greta::audit
