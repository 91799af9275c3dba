// greta perplexity: how well a model predicts a text, in windows as llama.cpp's perplexity
// tool scores it (model/perplexity.h), with progress after every window.
#include <chrono>
#include <cstdio>
#include <memory>

#include "app/command.h"
#include "app/model_options.h"
#include "app/prompt_input.h"
#include "model/perplexity.h"
#include "model/session.h"

namespace greta::app {
namespace {

struct PerplexityCommandOptions {
  ModelOptions model;
  PromptOptions text;
  int64_t window = 512;
  int64_t max_windows = 0;
};

int run(const PerplexityCommandOptions& o) {
  auto m = load_model(o.model);
  const auto tokens = prompt_tokens(o.text, m);
  Session session(*m.model, o.model.ctx);
  PerplexityOptions p;
  p.window = o.window;
  p.max_windows = o.max_windows;
  p.threads = o.model.threads;
  // As the first window starts with BOS, so does every other (llama.cpp's convention).
  if (m.tokenizer && m.tokenizer->add_bos() && !o.text.no_bos && !tokens.empty() && tokens[0] == m.tokenizer->bos())
    p.bos = m.tokenizer->bos();
  const auto t0 = std::chrono::steady_clock::now();
  const auto progress = [&](int64_t i, int64_t n, const PerplexityResult& r) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "window %lld/%lld: perplexity so far %.4f (%.2f s a window, ~%.0f s left)\n",
                 static_cast<long long>(i), static_cast<long long>(n), r.perplexity, s / static_cast<double>(i),
                 s / static_cast<double>(i) * static_cast<double>(n - i));
  };
  const PerplexityResult r = perplexity(session, tokens, p, progress);
  std::printf("perplexity: %.6f ± %.6f over %lld tokens (%lld window%s of %lld tokens, the second half of each scored",
              r.perplexity, r.error, static_cast<long long>(r.scored), static_cast<long long>(r.windows),
              r.windows == 1 ? "" : "s", static_cast<long long>(o.window));
  if (r.left_out > 0) std::printf("; the last %lld tokens not scored", static_cast<long long>(r.left_out));
  std::printf(")\n");
  return 0;
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityCommandOptions>();
  auto* cmd = app.add_subcommand("perplexity", "perplexity of the model over a text, in windows (llama.cpp's scoring)");
  add_model_options(*cmd, o->model);
  add_prompt_options(*cmd, o->text);
  cmd->add_option("--window", o->window, "tokens a window; the second half of each is scored (default 512)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  cmd->add_option("--windows", o->max_windows, "score at most this many windows (default: every whole window)")
      ->check(CLI::NonNegativeNumber);
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
