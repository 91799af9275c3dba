// greta: a Llama-family GGUF inference engine with a prefill/decode equivalence auditor.
#include <cstdio>
#include <exception>
#include <map>

#include "app/command.h"
#include "greta/error.h"

namespace greta::app {
namespace {
std::map<const CLI::App*, Runner>& runners() {
  static std::map<const CLI::App*, Runner> r;
  return r;
}
}  // namespace

void set_runner(CLI::App* sub, Runner runner) { runners()[sub] = std::move(runner); }

int run_selected(CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    auto it = runners().find(sub);
    if (it != runners().end()) return it->second();
  }
  std::fprintf(stderr, "%s\ngreta: error: give a command (see greta --help)\n", app.help().c_str());
  return 2;
}

}  // namespace greta::app

int main(int argc, char** argv) {
  using namespace greta::app;
  CLI::App app{"greta: Llama-family GGUF inference with a prefill/decode equivalence auditor", "greta"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "greta 0.1.0");
  register_run(app);
  register_chat(app);
  register_logits(app);
  register_compare(app);
  register_bench(app);
  register_inspect(app);
  register_tokenize(app);
  register_synth(app);
  register_audit(app);
  register_perplexity(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    const CLI::App* where = &app;
    for (const CLI::App* sub : app.get_subcommands()) where = sub;
    std::fprintf(stderr, "%s\ngreta: error: %s\n", where->help().c_str(), e.what());
    return 2;
  }
  try {
    return run_selected(app);
  } catch (const greta::InputError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "greta: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "greta: error: out of memory\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "greta: internal error: %s\n", e.what());
    return 3;
  }
}
