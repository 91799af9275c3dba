#include "app/sampling_options.h"

#include <chrono>
#include <cstdio>

namespace greta::app {

void add_sampling_options(CLI::App& cmd, SamplingOptions& o) {
  auto& p = o.params;
  cmd.add_option("--temp", p.temperature, "temperature; 0 = greedy")->check(CLI::Range(0.0f, 100.0f))->capture_default_str();
  cmd.add_option("--top-k", p.top_k, "keep the k most likely tokens; 0 = off")->check(CLI::Range(0, 1 << 30))->capture_default_str();
  cmd.add_option("--top-p", p.top_p, "nucleus sampling threshold; 1 = off")->check(CLI::Range(0.0f, 1.0f))->capture_default_str();
  cmd.add_option("--min-p", p.min_p, "drop tokens below min-p × the top probability; 0 = off")->check(CLI::Range(0.0f, 1.0f))->capture_default_str();
  cmd.add_option("--repeat-penalty", p.repeat_penalty, "penalty for recently seen tokens; 1 = off")->check(CLI::Range(0.0f, 100.0f))->capture_default_str();
  cmd.add_option("--repeat-last-n", p.repeat_last_n, "how many recent tokens the penalty sees; -1 = all")->check(CLI::Range(-1, 1 << 30))->capture_default_str();
  cmd.add_option("--seed", o.seed, "random seed (same seed, same output); default: from the clock")->check(CLI::Range(int64_t{0}, INT64_MAX));
}

sampling::SamplerParams resolve(const SamplingOptions& o) {
  auto p = o.params;
  if (o.seed >= 0) {
    p.seed = static_cast<uint64_t>(o.seed);
  } else {
    p.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) & 0x7fffffffffffull;
    if (p.temperature > 0) std::fprintf(stderr, "seed: %llu (repeat with --seed)\n", static_cast<unsigned long long>(p.seed));
  }
  return p;
}

}  // namespace greta::app
