// audit.json and trace.jsonl.
//
// JSON has no NaN or infinity, and a broken run produces exactly those, so every number
// that may be non-finite is written as the string "NaN", "Infinity" or "-Infinity" (the
// spellings JavaScript and Python's float() read back) instead of silently becoming null.
// null means "absent": no first mismatch, no root cause, a local check that did not run,
// a span gate that was off.
#include <cmath>

#include <nlohmann/json.hpp>

#include "audit/report.h"
#include "audit/report_format.h"
#include "trace/row_stats.h"

namespace greta::audit {

namespace {

using nlohmann::ordered_json;

ordered_json number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

ordered_json local_ratio(const LocalCheck& c) { return c.checked ? number(c.ratio) : ordered_json(nullptr); }
ordered_json local_error(const LocalCheck& c) { return c.checked ? number(c.max_error) : ordered_json(nullptr); }

ordered_json stage_json(const StageResult& s) {
  ordered_json j;
  j["layer"] = s.id.layer;
  j["point"] = trace::point_name(s.id.point);
  j["mae"] = number(s.mae);
  j["max_abs"] = number(s.max_abs);
  j["rel_l2"] = number(s.rel_l2);
  j["bit_equal"] = s.bit_equal;
  j["local_prefill"] = local_ratio(s.local_prefill);
  j["local_decode"] = local_ratio(s.local_decode);
  j["local_prefill_max_error"] = local_error(s.local_prefill);
  j["local_decode_max_error"] = local_error(s.local_decode);
  return j;
}

ordered_json span_json(const SpanGate& g) {
  if (!g.ran) return nullptr;
  ordered_json j;
  j["steps"] = g.steps;
  j["max_abs"] = number(g.max_abs);
  j["p99_abs"] = number(g.p99_abs);
  j["max_rel"] = number(g.max_rel);
  j["top1_agreement"] = number(g.top1_agreement);
  j["mean_kl"] = number(g.mean_kl);
  j["collapse"] = g.collapse;
  j["passed"] = g.passed;
  j["decode_tokens"] = g.decode_tokens;
  return j;
}

ordered_json cross_json(const CrossBackend& x) {
  if (!x.ran) return nullptr;
  ordered_json j;
  j["reference"] = x.reference;
  j["tolerance"] = number(x.tolerance);
  j["max_rel_l2"] = number(x.max_rel_l2);
  if (x.first_mismatch)
    j["first_mismatch"] = {{"layer", x.first_mismatch->layer}, {"point", trace::point_name(x.first_mismatch->point)}};
  else
    j["first_mismatch"] = nullptr;
  j["passed"] = x.passed;
  ordered_json stages = ordered_json::array();
  for (const auto& s : x.stages)
    stages.push_back({{"layer", s.id.layer},
                      {"point", trace::point_name(s.id.point)},
                      {"rel_l2_prefill_last", number(s.rel_l2_prefill)},
                      {"rel_l2_decode0", number(s.rel_l2_decode)}});
  j["stages"] = std::move(stages);
  return j;
}

ordered_json prompt_json(const PromptAudit& p, double tolerance) {
  ordered_json j;
  j["id"] = p.id;
  j["verdict"] = verdict_name(p.verdict);
  j["explanation"] = report_detail::verdict_sentence(p, tolerance);
  j["n_tokens"] = p.n_tokens;
  if (p.first_mismatch)
    j["first_mismatch"] = {{"layer", p.first_mismatch->layer}, {"point", trace::point_name(p.first_mismatch->point)}};
  else
    j["first_mismatch"] = nullptr;
  if (p.root_cause)
    j["root_cause"] = {{"route", p.root_cause->route},
                       {"layer", p.root_cause->stage.layer},
                       {"point", trace::point_name(p.root_cause->stage.point)},
                       {"ratio", number(p.root_cause->ratio)}};
  else
    j["root_cause"] = nullptr;
  j["prefill_last_top1"] = p.prefill_last_top1;
  j["decode0_top1"] = p.decode0_top1;
  j["collapse"] = p.collapse;
  j["span"] = span_json(p.span);
  j["cross_backend"] = cross_json(p.cross);
  ordered_json stages = ordered_json::array();
  for (const auto& s : p.stages) stages.push_back(stage_json(s));
  j["stages"] = std::move(stages);
  return j;
}

}  // namespace

std::string report_json(const AuditReport& r) {
  ordered_json j;
  j["verdict"] = verdict_name(r.verdict);
  j["exit_code"] = r.exit_code();
  j["model"] = r.model;
  j["backend"] = r.backend;
  j["contract"] = r.contract;
  j["routes"] = r.route_config;
  j["faults"] = r.faults;
  j["tolerance"] = number(r.tolerance);
  j["allow_drift"] = r.allow_drift;
  j["collapse"] = r.collapse;
  j["collapse_detail"] = r.collapse_detail;
  j["repeat"] = {{"n", r.repeat}, {"identical", r.repeat_identical}, {"detail", r.repeat_detail}};
  j["seconds"] = number(r.seconds);
  ordered_json prompts = ordered_json::array();
  for (const auto& p : r.prompts) prompts.push_back(prompt_json(p, r.tolerance));
  j["prompts"] = std::move(prompts);
  // Replace invalid UTF-8 (a prompt id is user input) rather than throw while reporting.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string trace_jsonl(const std::vector<TraceRow>& rows) {
  std::string out;
  for (const auto& row : rows) {
    const bool is_logits = row.stage.point == trace::Point::logits;
    const auto n = static_cast<int64_t>(row.values.size());
    const trace::RowStats s = trace::row_stats(row.values.data(), n, is_logits);
    ordered_json j;
    j["prompt_id"] = row.prompt_id;
    j["phase"] = row.phase;
    j["point"] = trace::point_name(row.stage.point);
    j["layer"] = row.stage.layer;
    j["pos"] = row.pos;
    j["n"] = n;
    j["hash"] = trace::hash_hex(s.hash);
    j["min"] = number(s.min);
    j["max"] = number(s.max);
    j["mean"] = number(s.mean);
    j["rms"] = number(s.rms);
    j["abs_max"] = number(s.abs_max);
    j["nan"] = s.nan;
    j["inf"] = s.inf;
    ordered_json sample = ordered_json::array();
    for (int64_t i = 0; i < std::min<int64_t>(8, n); ++i) sample.push_back(number(s.sample[i]));
    j["sample"] = std::move(sample);
    if (is_logits) {
      j["top1"] = s.top1;
      j["top1_logit"] = number(s.top1_logit);
      j["top2"] = s.top2;
      j["top2_logit"] = number(s.top2_logit);
      j["gap"] = number(s.gap);
    }
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return out;
}

}  // namespace greta::audit
