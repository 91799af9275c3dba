#include "app/trace_options.h"

namespace greta::app {

void add_trace_options(CLI::App& cmd, TraceOptions& o) {
  const std::string g = "Stage trace";
  cmd.add_flag("--trace-stage", o.stage, "write a JSONL trace of every stage (env GRETA_TRACE_STAGE=1)")->group(g);
  cmd.add_option("--trace-out", o.out, "trace file (default trace.jsonl; env GRETA_TRACE_STAGE_OUT)")->group(g);
  cmd.add_option("--trace-layers", o.layers, "layers to trace: all, 0,3 or 0-7 (env GRETA_TRACE_STAGE_LAYERS)")->group(g);
  cmd.add_option("--trace-points", o.points, "stage points, e.g. x_in,wo_out (env GRETA_TRACE_STAGE_POINTS)")->group(g);
  cmd.add_option("--trace-phases", o.phases,
                 "prefill_last, prefill_row_I, prefill_all, decodeK, decode_all (default prefill_last,decode0; "
                 "env GRETA_TRACE_STAGE_PHASES)")->group(g);
  cmd.add_option("--trace-prompt-id", o.prompt_id, "prompt_id written in each record (env GRETA_TRACE_PROMPT_ID)")->group(g);
  cmd.add_option("--trace-dump", o.dump_dir, "also write every traced row as raw float32 into this directory")->group(g);
}

std::unique_ptr<trace::StageTracer> make_tracer(const TraceOptions& o, const LlamaModel& model) {
  trace::TraceConfig cfg;
  cfg.apply_environment();
  // Any trace flag asks for a trace; the environment needs GRETA_TRACE_STAGE=1.
  if (o.stage || !o.out.empty() || !o.layers.empty() || !o.points.empty() || !o.phases.empty() || !o.dump_dir.empty())
    cfg.enabled = true;
  if (!o.out.empty()) cfg.out = o.out;
  if (!o.layers.empty()) cfg.layers = trace::TraceConfig::parse_layers(o.layers, "--trace-layers");
  if (!o.points.empty()) cfg.points = trace::TraceConfig::parse_points(o.points, "--trace-points");
  if (!o.phases.empty()) cfg.phases = trace::TraceConfig::parse_phases(o.phases, "--trace-phases");
  if (!o.prompt_id.empty()) cfg.prompt_id = o.prompt_id;
  if (!o.dump_dir.empty()) cfg.dump_dir = o.dump_dir;
  if (!cfg.enabled) return nullptr;
  return std::make_unique<trace::StageTracer>(std::move(cfg), static_cast<int>(model.config().n_layers));
}

}  // namespace greta::app
