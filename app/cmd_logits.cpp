// greta logits: the full logits of every prompt position from one prefill.
#include <cstdio>
#include <memory>

#include "app/command.h"
#include "app/model_options.h"
#include "app/prompt_input.h"
#include "model/session.h"

namespace greta::app {
namespace {

struct LogitsOptions {
  ModelOptions model;
  PromptOptions prompt;
  std::string out;
};

int run(const LogitsOptions& o) {
  auto m = load_model(o.model);
  const auto prompt = prompt_tokens(o.prompt, m);
  Session session(*m.model, o.model.ctx);
  const auto logits = session.prefill(prompt, LogitsRows::All);
  std::FILE* f = std::fopen(o.out.c_str(), "wb");
  if (!f) throw InputError(o.out + ": cannot open for writing");
  const size_t written = std::fwrite(logits.data(), sizeof(float), logits.size(), f);
  const bool ok = std::fclose(f) == 0 && written == logits.size();
  if (!ok) throw InputError(o.out + ": write failed");
  std::fprintf(stderr, "wrote %zu positions × %lld logits (float32, [position][vocab]) to %s\n", prompt.size(),
               static_cast<long long>(m.model->config().n_vocab), o.out.c_str());
  return 0;
}

}  // namespace

void register_logits(CLI::App& app) {
  auto o = std::make_shared<LogitsOptions>();
  auto* cmd = app.add_subcommand("logits", "write the logits of every prompt position (one prefill) as float32");
  add_model_options(*cmd, o->model);
  add_prompt_options(*cmd, o->prompt);
  cmd->add_option("--out", o->out, "output file (.f32)")->required();
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
