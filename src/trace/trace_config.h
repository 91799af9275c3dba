#pragma once
// What a stage trace records: which layers, points and phases, where it goes. Built from
// GRETA CORE's environment variables and then the command-line flags (flags win).
#include <optional>
#include <set>
#include <string>

#include "trace/stage_point.h"

namespace greta::trace {

struct TraceConfig {
  bool enabled = false;
  std::string out = "trace.jsonl";
  std::set<int> layers;            // empty: all
  std::set<Point> points;          // empty: all
  std::set<std::string> phases = {"prefill_last", "decode0"};  // "prefill_all" = every prefill row
  std::string prompt_id = "prompt";
  std::string dump_dir;            // non-empty: also write each row as raw .f32

  // GRETA_TRACE_STAGE, _OUT, _LAYERS, _POINTS, _PHASES, GRETA_TRACE_PROMPT_ID.
  void apply_environment();
  // Parsers for the list forms ("0,1,5" / "0-3"; "x_in,wo_out"; "prefill_last,decode0").
  // InputError on unknown names; `what` names the flag or variable in messages.
  static std::set<int> parse_layers(const std::string& s, const std::string& what);
  static std::set<Point> parse_points(const std::string& s, const std::string& what);
  static std::set<std::string> parse_phases(const std::string& s, const std::string& what);
  // Validates layers against the model.
  void check_layers(int n_layers) const;
};

}  // namespace greta::trace
