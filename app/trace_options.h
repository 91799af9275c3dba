#pragma once
// `greta run --trace-stage ...`: the stage trace flags, merged over the GRETA_TRACE_*
// environment variables (flags win).
#include <CLI/CLI.hpp>
#include <memory>

#include "model/llama_model.h"
#include "trace/stage_tracer.h"

namespace greta::app {

struct TraceOptions {
  bool stage = false;
  std::string out, layers, points, phases, prompt_id, dump_dir;
};

void add_trace_options(CLI::App& cmd, TraceOptions& o);
// Null when tracing is off (neither --trace-stage nor GRETA_TRACE_STAGE=1).
std::unique_ptr<trace::StageTracer> make_tracer(const TraceOptions& o, const LlamaModel& model);

}  // namespace greta::app
