#include "audit/audit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

#include "audit/local_check.h"
#include "audit/span_gate.h"
#include "audit/stage_recorder.h"
#include "model/session.h"
#include "trace/row_stats.h"

namespace greta::audit {

// Scaling of the default thresholds with the operand unit u of rounded-operand routes
// (docs/audit.md). Stage tolerance 64u (3.1e-2 for f16): the clean 8192-token audit of the
// synthetic 8B peaks at 1.24e-2, at an attention output (a long softmax average cancels,
// so its relative difference is the largest). Span gap 64u; span mean KL 4096u² (9.5e-4
// for f16, the KL ≤ 1e-3 the engine's tests hold llama.cpp's logits to).
constexpr double kStageTolerancePerUnit = 64;
constexpr double kSpanGapPerUnit = 64;
constexpr double kSpanKlPerUnitSquared = 4096;
namespace {

using trace::Point;

// Every (layer, point) in pipeline order, then final_norm and logits.
std::vector<StageId> pipeline(int n_layers) {
  std::vector<StageId> s;
  for (int l = 0; l < n_layers; ++l)
    for (int p = 0; p < trace::kPerLayerPointCount; ++p) s.push_back({l, static_cast<Point>(p)});
  s.push_back({-1, Point::final_norm});
  s.push_back({-1, Point::logits});
  return s;
}

bool selected(const AuditOptions& o, StageId id) {
  if (!o.points.empty() && !o.points.count(id.point)) return false;
  if (id.layer >= 0 && !o.layers.empty() && !o.layers.count(id.layer)) return false;
  return true;
}

double relative_l2(const std::vector<float>& ours, const std::vector<float>& ref) {
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    d2 += (double(ours[i]) - ref[i]) * (double(ours[i]) - ref[i]);
    r2 += double(ref[i]) * ref[i];
  }
  return r2 > 0 ? std::sqrt(d2 / r2) : (d2 > 0 ? INFINITY : 0);
}

void global_error(const std::vector<float>& a, const std::vector<float>& b, StageResult& r) {
  double sum = 0;
  r.bit_equal = a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
                  return std::memcmp(&x, &y, sizeof x) == 0;
                });
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]);
    sum += d;
    r.max_abs = std::max(r.max_abs, d);
  }
  r.mae = a.empty() ? 0 : sum / a.size();
  r.rel_l2 = relative_l2(b, a);  // relative to the prefill row
}

struct PairRun {
  StageRecorder prefill_last, decode0;
  CacheSnapshot cache_a, cache_b;
  std::vector<float> decode0_logits;
  PairRun(int32_t pos) : prefill_last(pos), decode0(pos) {}
};

// The aligned pair E1: A prefills t[0..N-1]; B prefills t[0..N-2], then decodes t[N-1].
PairRun run_pair(LlamaModel& model, const AuditPrompt& p, const AuditOptions& o, Session& b) {
  const int32_t last = static_cast<int32_t>(p.tokens.size()) - 1;
  PairRun run(last);
  {
    Session a(model, static_cast<int64_t>(p.tokens.size()));
    a.hooks() = {&run.prefill_last, &o.faults, o.routes};
    a.prefill(p.tokens);
    run.cache_a = snapshot_cache(model, a.cache(), last);
  }
  b.hooks() = {nullptr, &o.faults, o.routes};
  b.prefill(std::span(p.tokens).first(last));
  b.hooks().probe = &run.decode0;
  run.decode0_logits = b.decode(p.tokens[last]);
  b.hooks().probe = nullptr;
  run.cache_b = snapshot_cache(model, b.cache(), last);
  return run;
}

PromptAudit audit_prompt(LlamaModel& model, const LocalChecker& checker, const AuditPrompt& p, const AuditOptions& o,
                         std::vector<TraceRow>* trace_rows, uint64_t& digest) {
  if (p.tokens.empty()) throw InputError("prompt '" + p.id + "' has no tokens");
  PromptAudit pa;
  pa.id = p.id;
  pa.n_tokens = static_cast<int64_t>(p.tokens.size());
  const int64_t span = std::max(0, o.span);
  Session b(model, pa.n_tokens + span + 1);
  PairRun run = run_pair(model, p, o, b);
  const int32_t token = p.tokens.back();

  for (const StageId id : pipeline(static_cast<int>(model.config().n_layers))) {
    const auto* ra = run.prefill_last.row(id.point, id.layer);
    const auto* rb = run.decode0.row(id.point, id.layer);
    if (!ra || !rb) continue;
    digest = digest * 0x100000001b3ull ^ trace::fnv1a64(ra->data(), ra->size());
    digest = digest * 0x100000001b3ull ^ trace::fnv1a64(rb->data(), rb->size());
    if (!selected(o, id)) continue;
    StageResult r;
    r.id = id;
    global_error(*ra, *rb, r);
    r.local_prefill = checker.check(run.prefill_last, run.cache_a, token, id, model.backend().precision(o.routes.prefill));
    r.local_decode = checker.check(run.decode0, run.cache_b, token, id, model.backend().precision(o.routes.decode));
    pa.stages.push_back(r);
    if (trace_rows) {
      trace_rows->push_back({p.id, "prefill_last", id, run.prefill_last.position(), *ra});
      trace_rows->push_back({p.id, "decode0", id, run.decode0.position(), *rb});
    }
  }
  bool all_equal = true, over_tol = false;
  for (const auto& s : pa.stages) {
    all_equal &= s.bit_equal;
    if (s.rel_l2 > o.tolerance) {
      over_tol = true;
      if (!pa.first_mismatch) pa.first_mismatch = s.id;
    }
    const bool a = s.local_prefill.violated(), d = s.local_decode.violated();
    if ((a || d) && !pa.root_cause)
      pa.root_cause = RootCause{a && d ? "both" : (a ? "prefill" : "decode"), s.id,
                                std::max(s.local_prefill.ratio, s.local_decode.ratio)};
  }
  if (o.reference) {
    // The reference backend runs the same pair, clean (no faults), with its default routes.
    AuditOptions ref_options;
    Session rb(*o.reference, pa.n_tokens + 1);
    const PairRun ref = run_pair(*o.reference, p, ref_options, rb);
    auto& x = pa.cross;
    x.ran = true;
    x.reference = o.reference->backend().name();
    x.tolerance = o.cross_tolerance;
    for (const auto& s : pa.stages) {
      const auto *a = run.prefill_last.row(s.id.point, s.id.layer), *ra = ref.prefill_last.row(s.id.point, s.id.layer);
      const auto *d = run.decode0.row(s.id.point, s.id.layer), *rd = ref.decode0.row(s.id.point, s.id.layer);
      if (!a || !ra || !d || !rd) continue;
      CrossBackend::Stage cs{s.id, relative_l2(*a, *ra), relative_l2(*d, *rd)};
      const double worst = std::max(cs.rel_l2_prefill, cs.rel_l2_decode);
      x.max_rel_l2 = std::max(x.max_rel_l2, worst);
      if (!(worst <= o.cross_tolerance) && !x.first_mismatch) x.first_mismatch = s.id;
      x.stages.push_back(cs);
    }
    x.passed = !x.first_mismatch;
  }
  pa.verdict = pa.root_cause ? Verdict::Mismatch : over_tol ? Verdict::Drift : all_equal ? Verdict::Exact : Verdict::Pass;
  const auto* la = run.prefill_last.row(Point::logits, -1);
  pa.prefill_last_top1 = la ? trace::row_stats(la->data(), la->size(), true).top1 : -1;
  pa.decode0_top1 = trace::row_stats(run.decode0_logits.data(), run.decode0_logits.size(), true).top1;
  if (span > 0) {
    pa.span = run_span_gate(model, p.tokens, b, run.decode0_logits, static_cast<int>(span), o);
    for (int32_t t : pa.span.decode_tokens) digest = digest * 0x100000001b3ull ^ static_cast<uint64_t>(t);
  }
  return pa;
}

std::string route_text(const RouteConfig& r) {
  return std::string("prefill=") + (r.prefill == Route::Gemm ? "gemm" : "gemv") + " decode=" + (r.decode == Route::Gemm ? "gemm" : "gemv");
}

}  // namespace

Thresholds default_thresholds(const Backend& backend, const RouteConfig& routes) {
  Thresholds t;
  const double u = std::max({backend.precision(routes.prefill).matmul_operand_unit,
                             backend.precision(routes.decode).matmul_operand_unit,
                             backend.precision(routes.prefill).attention_operand_unit,
                             backend.precision(routes.decode).attention_operand_unit});
  if (u > 0) {
    t.tolerance = std::max(t.tolerance, kStageTolerancePerUnit * u);
    t.cross_tolerance = std::max(t.cross_tolerance, kStageTolerancePerUnit * u);
    t.span_gap = std::max(t.span_gap, kSpanGapPerUnit * u);
    t.span_max_mean_kl = std::max(t.span_max_mean_kl, kSpanKlPerUnitSquared * u * u);
  }
  return t;
}

AuditReport run_audit(LlamaModel& model, const std::vector<AuditPrompt>& prompts, const AuditOptions& options,
                      std::vector<TraceRow>* trace_rows) {
  const auto t0 = std::chrono::steady_clock::now();
  AuditOptions o = options;
  const Thresholds defaults = default_thresholds(model.backend(), o.routes);
  if (o.tolerance < 0) o.tolerance = defaults.tolerance;
  if (o.cross_tolerance < 0) o.cross_tolerance = defaults.cross_tolerance;
  if (o.span_gap < 0) o.span_gap = defaults.span_gap;
  if (o.span_max_mean_kl < 0) o.span_max_mean_kl = defaults.span_max_mean_kl;
  model.validate_faults(o.faults);
  for (int l : o.layers)
    if (l >= model.config().n_layers)
      throw InputError("--layers: layer " + std::to_string(l) + " is out of range (the model has " +
                       std::to_string(model.config().n_layers) + " layers)");
  AuditReport r;
  r.model = model.config().name.empty() ? model.file().path() : model.config().name;
  r.backend = model.backend().name();
  r.contract = model.backend().numeric_contract();
  r.route_config = route_text(o.routes);
  for (const auto& f : o.faults.faults) r.faults.push_back(f.spec);
  r.tolerance = o.tolerance;
  r.allow_drift = o.allow_drift;
  r.repeat = std::max(1, o.repeat);
  const LocalChecker checker(model);
  std::vector<uint64_t> digests;
  for (int rep = 0; rep < r.repeat; ++rep) {
    uint64_t digest = 0xcbf29ce484222325ull;
    std::vector<PromptAudit> results;
    for (const auto& p : prompts) results.push_back(audit_prompt(model, checker, p, o, rep == 0 ? trace_rows : nullptr, digest));
    digests.push_back(digest);
    if (rep == 0) r.prompts = std::move(results);
  }
  for (int rep = 1; rep < r.repeat; ++rep)
    if (digests[rep] != digests[0]) {
      r.repeat_identical = false;
      r.repeat_detail = "run " + std::to_string(rep + 1) + " differs from run 1 (" + trace::hash_hex(digests[rep]) + " vs " +
                        trace::hash_hex(digests[0]) + ")";
    }
  if (r.repeat > 1 && r.repeat_identical)
    r.repeat_detail = std::to_string(r.repeat) + " runs bit-identical (digest " + trace::hash_hex(digests[0]) + ")";

  // Cross-prompt collapse: decode0 agrees where prefill_last does not.
  for (size_t i = 0; i < r.prompts.size(); ++i)
    for (size_t j = i + 1; j < r.prompts.size(); ++j) {
      auto &a = r.prompts[i], &b = r.prompts[j];
      if (a.decode0_top1 == b.decode0_top1 && a.prefill_last_top1 != b.prefill_last_top1) {
        a.collapse = b.collapse = true;
        r.collapse = true;
        r.collapse_detail = "decode0 gives token " + std::to_string(a.decode0_top1) + " for prompts whose prefill_last top-1 differ (" +
                            a.id + ": " + std::to_string(a.prefill_last_top1) + ", " + b.id + ": " +
                            std::to_string(b.prefill_last_top1) + ")";
      }
    }
  for (const auto& p : r.prompts) {
    r.verdict = std::max(r.verdict, p.verdict);
    if (p.span.collapse) {
      r.collapse = true;
      if (r.collapse_detail.empty()) r.collapse_detail = "within the generation of " + p.id + ": decode kept producing one token while prefill disagreed";
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace greta::audit
