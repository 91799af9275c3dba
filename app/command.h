#pragma once
// How subcommands plug into `greta`: each registers its CLI11 subcommand and a runner
// that returns the process exit code (0 ok, 1 a check failed, 2 bad input).
#include <CLI/CLI.hpp>
#include <functional>

namespace greta::app {

using Runner = std::function<int()>;
void set_runner(CLI::App* subcommand, Runner runner);
// Runs the runner of the subcommand that was parsed; 2 with a message if none was given.
int run_selected(CLI::App& app);

void register_run(CLI::App& app);
void register_chat(CLI::App& app);
void register_logits(CLI::App& app);
void register_compare(CLI::App& app);
void register_bench(CLI::App& app);
void register_inspect(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_synth(CLI::App& app);
void register_audit(CLI::App& app);
void register_perplexity(CLI::App& app);

}  // namespace greta::app
