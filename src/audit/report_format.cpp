#include "audit/report_format.h"

#include <cmath>
#include <cstdio>

namespace greta::audit::report_detail {

std::string format_error(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

std::string stage_label(const StageId& s) {
  std::string out(trace::point_name(s.point));
  if (s.layer >= 0) out += "@L" + std::to_string(s.layer);
  return out;
}

std::string root_cause_label(const RootCause& rc) { return rc.route + ":" + stage_label(rc.stage); }

std::string token_label(int32_t token) { return token < 0 ? "-" : std::to_string(token); }

std::string ratio_label(const LocalCheck& c) { return c.checked ? format_error(c.ratio) : "-"; }

bool has_point(const PromptAudit& p, trace::Point point) {
  for (const auto& s : p.stages)
    if (s.id.point == point) return true;
  return false;
}

double worst_local_ratio(const StageResult& s) {
  double r = 0;
  for (const LocalCheck* c : {&s.local_prefill, &s.local_decode})
    if (c->checked && (std::isnan(c->ratio) || c->ratio > r)) r = c->ratio;
  return r;
}

const StageResult* fastest_growth(const PromptAudit& p, double* factor) {
  const StageResult* best = nullptr;
  double best_factor = 1;
  for (size_t i = 1; i < p.stages.size(); ++i) {
    const double before = p.stages[i - 1].rel_l2, after = p.stages[i].rel_l2;
    if (!(before > 0) || !std::isfinite(before) || !std::isfinite(after)) continue;
    if (after / before > best_factor) {
      best_factor = after / before;
      best = &p.stages[i];
    }
  }
  if (factor) *factor = best_factor;
  return best;
}

const StageResult* largest_rel_l2(const PromptAudit& p) {
  const StageResult* best = nullptr;
  for (const auto& s : p.stages)
    if (!best || s.rel_l2 > best->rel_l2 || std::isnan(s.rel_l2)) best = &s;
  return best;
}

namespace {

std::string route_phrase(const std::string& route) {
  if (route == "both") return "on both routes";
  return "on the " + route + " route";
}

std::string mismatch_sentence(const PromptAudit& p) {
  std::string first;
  if (p.first_mismatch) first = " (the global error first exceeds the tolerance at " + stage_label(*p.first_mismatch) + ")";
  if (p.root_cause) {
    const RootCause& rc = *p.root_cause;
    return "Op " + stage_label(rc.stage) + " breaks its rounding budget " + route_phrase(rc.route) + " by " +
           format_error(rc.ratio) + "×, so this is a bug in that op, not accumulated rounding" + first + ".";
  }
  // A MISMATCH without a recorded root cause: name the first local violation we can see.
  for (const auto& s : p.stages) {
    if (s.local_prefill.violated() || s.local_decode.violated()) {
      const std::string route = s.local_prefill.violated() && s.local_decode.violated() ? "both"
                                : s.local_prefill.violated()                            ? "prefill"
                                                                                        : "decode";
      return "Op " + stage_label(s.id) + " breaks its rounding budget " + route_phrase(route) + " by " +
             format_error(worst_local_ratio(s)) + "×, so this is a bug in that op" + first + ".";
    }
  }
  return "The audit judged this prompt a mismatch but recorded no local violation" + first + ".";
}

std::string drift_sentence(const PromptAudit& p, double tolerance) {
  std::string where = "somewhere";
  if (p.first_mismatch) {
    where = "at " + stage_label(*p.first_mismatch);
    for (const auto& s : p.stages)
      if (s.id.layer == p.first_mismatch->layer && s.id.point == p.first_mismatch->point)
        where += " (rel L2 " + format_error(s.rel_l2) + " > " + format_error(tolerance) + ")";
  }
  std::string growth;
  double factor = 1;
  if (const StageResult* g = fastest_growth(p, &factor))
    growth = ", growing most at " + stage_label(g->id) + " (" + format_error(factor) + "× the stage before)";
  return "The global error first exceeds the tolerance " + where +
         ", but every op stays within its rounding budget: this is accumulated rounding, not a bug" + growth + ".";
}

}  // namespace

std::string verdict_sentence(const PromptAudit& p, double tolerance) {
  switch (p.verdict) {
    case Verdict::Exact: return "Every recorded stage of decode0 is bit-equal to prefill_last.";
    case Verdict::Pass: {
      std::string largest;
      if (const StageResult* s = largest_rel_l2(p))
        largest = " (largest rel L2 " + format_error(s->rel_l2) + " at " + stage_label(s->id) + ")";
      return "decode0 matches prefill_last within the tolerance" + largest +
             " and every op stays within its rounding budget.";
    }
    case Verdict::Drift: return drift_sentence(p, tolerance);
    case Verdict::Mismatch: return mismatch_sentence(p);
  }
  return "";
}

SummaryCells summary_cells(const AuditReport& r) {
  using trace::Point;
  static constexpr Point kMaePoints[] = {Point::x_in,   Point::attn_out, Point::wo_out, Point::x_after_attn,
                                         Point::mlp_out, Point::x_out,   Point::logits};
  SummaryCells t;
  t.header = {"prompt", "tokens", "routes"};
  for (Point p : kMaePoints) t.header.push_back(std::string(trace::point_name(p)) + "_mae");
  for (const char* h : {"first_mismatch", "root_cause", "prefill_last_top1", "decode0_top1", "collapse", "verdict"})
    t.header.push_back(h);

  for (const auto& p : r.prompts) {
    std::vector<std::string> row = {p.id, std::to_string(p.n_tokens), r.route_config};
    for (Point pt : kMaePoints) row.push_back(has_point(p, pt) ? format_error(p.max_mae(pt)) : "-");
    row.push_back(p.first_mismatch ? stage_label(*p.first_mismatch) : "-");
    row.push_back(p.root_cause ? root_cause_label(*p.root_cause) : "-");
    row.push_back(token_label(p.prefill_last_top1));
    row.push_back(token_label(p.decode0_top1));
    row.push_back(p.collapse || p.span.collapse ? "yes" : "no");
    row.push_back(verdict_name(p.verdict));
    t.rows.push_back(std::move(row));
  }
  return t;
}

namespace {

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * fraction);
  return buf;
}

std::string span_line(const PromptAudit& p) {
  const SpanGate& g = p.span;
  std::string line = "span gate " + p.id + ": " + std::to_string(g.steps) + " steps, max |Δ| " +
                     format_error(g.max_abs) + " (" + format_error(g.max_rel) + " of the logit range), p99 |Δ| " +
                     format_error(g.p99_abs) + ", top-1 agreement " +
                     percent(g.top1_agreement) + ", mean KL " + format_error(g.mean_kl) + ": " +
                     (g.passed ? "PASS" : "FAIL");
  if (g.collapse) line += " (decode collapsed onto one token)";
  return line;
}

}  // namespace

std::vector<std::string> summary_notes(const AuditReport& r) {
  std::vector<std::string> notes;
  std::string verdict = std::string("verdict: ") + verdict_name(r.verdict);
  if (r.collapse) verdict += " + COLLAPSE";
  verdict += " (exit code " + std::to_string(r.exit_code()) + (r.allow_drift ? ", drift allowed)" : ")");
  notes.push_back(verdict);

  std::string faults = "faults injected: ";
  if (r.faults.empty()) faults += "none";
  for (size_t i = 0; i < r.faults.size(); ++i) faults += (i ? ", " : "") + r.faults[i];
  notes.push_back(faults);

  if (r.collapse)
    notes.push_back("collapse: YES" + (r.collapse_detail.empty() ? std::string() : ": " + r.collapse_detail));
  else
    notes.push_back("collapse: none" + (r.collapse_detail.empty() ? std::string() : " (" + r.collapse_detail + ")"));

  bool any_span = false;
  for (const auto& p : r.prompts) {
    if (!p.span.ran) continue;
    any_span = true;
    notes.push_back(span_line(p));
  }
  if (!any_span) notes.push_back("span gate: off");

  for (const auto& p : r.prompts) {
    if (!p.cross.ran) continue;
    const auto& x = p.cross;
    std::string line = "cross-backend " + p.id + " vs " + x.reference + ": max rel L2 " + format_error(x.max_rel_l2) +
                       " (tolerance " + format_error(x.tolerance) + ")";
    if (x.first_mismatch) line += ", first over at " + stage_label(*x.first_mismatch);
    line += x.passed ? ": PASS" : ": FAIL";
    notes.push_back(line);
  }

  if (r.repeat <= 1) {
    notes.push_back("repeat: off (1 run)");
  } else {
    std::string line = "repeat: " + std::to_string(r.repeat) + " runs, " + (r.repeat_identical ? "PASS" : "FAIL");
    if (!r.repeat_detail.empty())
      line += ": " + r.repeat_detail;
    else
      line += r.repeat_identical ? " (bit-identical)" : " (not bit-identical)";
    notes.push_back(line);
  }
  return notes;
}

}  // namespace greta::audit::report_detail
