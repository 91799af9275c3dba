// greta run: generate text from a prompt.
#include <cstdio>
#include <memory>

#include "app/command.h"
#include "app/generate.h"
#include "app/model_options.h"
#include "app/prompt_input.h"
#include "app/sampling_options.h"
#include "app/trace_options.h"

namespace greta::app {
namespace {

struct RunOptions {
  ModelOptions model;
  PromptOptions prompt;
  SamplingOptions sampling;
  TraceOptions trace;
  int64_t n_predict = 128;
  bool chat = false;
  std::string system;
  std::string chat_template;
};

// The prompt as one user turn of the model's chat template.
std::vector<int32_t> chat_prompt(const RunOptions& o, const LoadedModel& m) {
  if (!m.tokenizer) throw InputError("--chat needs a model with a vocabulary");
  const auto tmpl = o.chat_template.empty() ? tokenizer::ChatTemplate::for_vocab(m.tokenizer->vocab())
                                            : tokenizer::ChatTemplate::from_name(o.chat_template);
  std::vector<tokenizer::ChatMessage> msgs;
  if (!o.system.empty()) msgs.push_back({"system", o.system});
  msgs.push_back({"user", o.prompt.file.empty() ? o.prompt.text : read_text_file(o.prompt.file)});
  return m.tokenizer->encode(tmpl.render(msgs, true), false, true);
}

int run(const RunOptions& o) {
  auto m = load_model(o.model);
  const auto prompt = o.chat ? chat_prompt(o, m) : prompt_tokens(o.prompt, m);
  std::fprintf(stderr, "model: %s, prompt: %zu tokens\n", m.display_name.c_str(), prompt.size());
  Session session(*m.model, o.model.ctx);
  auto tracer = make_tracer(o.trace, *m.model);
  if (tracer) session.hooks().probe = tracer.get();
  sampling::Sampler sampler(resolve(o.sampling));
  auto emit = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  if (tracer) tracer->begin_prefill(0, static_cast<int32_t>(prompt.size()));
  const auto stats = generate(session, m.tokenizer ? &*m.tokenizer : nullptr, sampler, prompt, o.n_predict, emit, nullptr,
                              [&](int64_t step) {
                                if (tracer) tracer->begin_decode(step);
                              });
  print_stats(stats, m.load_seconds);
  if (tracer)
    std::fprintf(stderr, "trace: %lld records written to %s\n", static_cast<long long>(tracer->records()), tracer->path().c_str());
  return 0;
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "generate text from a prompt (streams to stdout, statistics to stderr)");
  add_model_options(*cmd, o->model);
  add_prompt_options(*cmd, o->prompt);
  add_sampling_options(*cmd, o->sampling);
  add_trace_options(*cmd, o->trace);
  cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate")->check(CLI::Range(int64_t{0}, int64_t{1} << 30))->capture_default_str();
  cmd->add_flag("--chat", o->chat, "wrap the prompt as one user turn of the model's chat template");
  cmd->add_option("--system", o->system, "system message for --chat");
  cmd->add_option("--chat-template", o->chat_template, "llama3, llama2 or chatml (default: the model's)");
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
