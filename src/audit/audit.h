#pragma once
// The prefill/decode equivalence audit (DESIGN §6).
//
// For each prompt t[0..N-1], run A prefills all N tokens and records position N-1
// (`prefill_last`); run B prefills t[0..N-2] and decodes t[N-1] at position N-1
// (`decode0`). Every stage of the two rows is compared (global error), and every stage
// of each run is recomputed in float64 from the inputs that run actually fed it and held
// against the op's rounding budget (local error). The first stage over its budget is the
// root cause.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/fault.h"
#include "model/llama_model.h"
#include "trace/stage_point.h"

namespace greta::audit {

enum class Verdict { Exact, Pass, Drift, Mismatch };
const char* verdict_name(Verdict v);

struct AuditPrompt {
  std::string id;
  std::vector<int32_t> tokens;
};

struct AuditOptions {
  std::set<int> layers;             // empty: all
  std::set<trace::Point> points;    // empty: all
  RouteConfig routes;
  FaultSet faults;
  int span = 0;                     // logits span gate over this many decode steps (0: off)
  int repeat = 1;                   // run everything this many times; traces and tokens must be bit-identical
  // Thresholds below zero take the defaults for the backend's precision (default_thresholds).
  double tolerance = -1;            // global relative L2 above which a stage "mismatches"
  bool allow_drift = false;         // DRIFT does not fail the audit
  // Cross-backend audit: the same prompt run clean on this model (another backend over the
  // same file, e.g. the CPU) and compared stage by stage with the audited model's rows.
  LlamaModel* reference = nullptr;
  double cross_tolerance = -1;      // relative L2 per stage between the two backends
  double span_gap = -1;             // span gate: top-1 must agree where prefill's top-1/top-2 gap is at least this
  double span_max_mean_kl = -1;     // span gate: largest mean KL between the two paths' distributions
};

// Default thresholds for a backend and route choice. The f32 contract (exact operands,
// both routes): 1e-4 relative L2 per stage, 1e-3 across backends, span gap 1e-3 and mean
// KL 1e-5. A route that rounds its operands with unit u (tensor cores: f16, u = 2^-11)
// moves every stage by many u after dozens of layers, so the thresholds scale with u
// (see docs/audit.md).
struct Thresholds {
  double tolerance = 1e-4, cross_tolerance = 1e-3, span_gap = 1e-3, span_max_mean_kl = 1e-5;
};
Thresholds default_thresholds(const Backend& backend, const RouteConfig& routes);

// Where a stage is: layer -1 for final_norm and logits.
struct StageId {
  int layer = -1;
  trace::Point point = trace::Point::x_in;
};

// Local check of one stage in one run: max |y − y64| / budget over the row (≤ 1 is within budget).
struct LocalCheck {
  bool checked = false;
  double max_error = 0;  // max |y − y64|
  double ratio = 0;      // max over elements of |y − y64| / budget
  bool violated() const { return checked && ratio > 1.0; }
};

struct StageResult {
  StageId id;
  // Global: prefill_last vs decode0.
  double mae = 0, max_abs = 0, rel_l2 = 0;
  bool bit_equal = false;
  LocalCheck local_prefill, local_decode;
};

struct RootCause {
  std::string route;  // "prefill", "decode" or "both"
  StageId stage;
  double ratio = 0;   // how far over budget (the larger of the two routes)
};

struct SpanGate {
  bool ran = false;
  int steps = 0;
  double max_abs = 0, p99_abs = 0, mean_kl = 0;
  // Largest over positions of max |Δ| / (max − min) of the prefill's logits at that position.
  double max_rel = 0;
  double top1_agreement = 1;
  bool collapse = false;  // decode kept one token while prefill disagreed
  bool passed = true;
  std::vector<int32_t> decode_tokens;  // the greedy tokens the decode path produced
};

// The audited backend against a reference backend, per stage, for both phases.
struct CrossBackend {
  bool ran = false;
  std::string reference;            // the reference backend's name
  double tolerance = 0;
  struct Stage {
    StageId id;
    double rel_l2_prefill = 0, rel_l2_decode = 0;  // ‖ours − ref‖ / ‖ref‖ at prefill_last, decode0
  };
  std::vector<Stage> stages;        // pipeline order
  std::optional<StageId> first_mismatch;
  double max_rel_l2 = 0;
  bool passed = true;
};

struct PromptAudit {
  std::string id;
  int64_t n_tokens = 0;
  std::vector<StageResult> stages;  // pipeline order
  std::optional<StageId> first_mismatch;
  std::optional<RootCause> root_cause;
  int32_t prefill_last_top1 = -1, decode0_top1 = -1;
  bool collapse = false;            // part of a cross-prompt collapse
  Verdict verdict = Verdict::Exact;
  SpanGate span;
  CrossBackend cross;
  // Largest value over layers of each global metric per point (for the summary table).
  double max_mae(trace::Point p) const;
};

struct AuditReport {
  std::string model;
  std::string backend;
  std::string contract;             // the backend's numeric contract
  std::string route_config;         // e.g. "prefill=gemm decode=gemv"
  std::vector<std::string> faults;  // injected specs
  double tolerance = 0;
  std::vector<PromptAudit> prompts;
  bool collapse = false;            // cross-prompt collapse
  std::string collapse_detail;
  int repeat = 1;
  bool repeat_identical = true;
  std::string repeat_detail;
  Verdict verdict = Verdict::Exact;  // worst over prompts
  bool allow_drift = false;
  double seconds = 0;
  // 0: every verdict EXACT or PASS (DRIFT with allow_drift); 1: MISMATCH, COLLAPSE, a failed gate or repeat.
  int exit_code() const;
};

// One JSONL trace record source: the rows both runs recorded, for trace.jsonl.
struct TraceRow {
  std::string prompt_id, phase;
  StageId stage;
  int32_t pos = 0;
  std::vector<float> values;
};

// Runs the audit. `trace_rows`, when given, receives every recorded row (first repeat only).
AuditReport run_audit(LlamaModel& model, const std::vector<AuditPrompt>& prompts, const AuditOptions& options,
                      std::vector<TraceRow>* trace_rows = nullptr);

}  // namespace greta::audit
