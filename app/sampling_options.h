#pragma once
// Sampling flags shared by `run` and `chat`.
#include <CLI/CLI.hpp>
#include <cstdint>

#include "sampling/sampler.h"

namespace greta::app {

struct SamplingOptions {
  sampling::SamplerParams params;
  int64_t seed = -1;  // -1: from the clock (printed, so a run can be repeated)
};

void add_sampling_options(CLI::App& cmd, SamplingOptions& o);
// Resolves the seed (printing it on stderr when it was drawn) and builds the parameters.
sampling::SamplerParams resolve(const SamplingOptions& o);

}  // namespace greta::app
