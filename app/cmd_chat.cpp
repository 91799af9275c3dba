// greta chat: an interactive multi-turn conversation that keeps its KV cache between turns.
#include <cstdio>
#include <iostream>
#include <memory>

#include "app/command.h"
#include "app/generate.h"
#include "app/model_options.h"
#include "app/sampling_options.h"

namespace greta::app {
namespace {

struct ChatOptions {
  ModelOptions model;
  SamplingOptions sampling;
  std::string system, chat_template;
  int64_t n_predict = 512;
};

int run(const ChatOptions& o) {
  auto m = load_model(o.model);
  if (!m.tokenizer) throw InputError("chat needs a model with a vocabulary");
  const auto& tok = *m.tokenizer;
  const auto tmpl = o.chat_template.empty() ? tokenizer::ChatTemplate::for_vocab(tok.vocab())
                                            : tokenizer::ChatTemplate::from_name(o.chat_template);
  Session session(*m.model, o.model.ctx);
  sampling::Sampler sampler(resolve(o.sampling));
  std::vector<tokenizer::ChatMessage> history;
  if (!o.system.empty()) history.push_back({"system", o.system});
  int32_t end_of_last_answer = -1;  // fed at the start of the next turn
  std::fprintf(stderr, "greta chat (%s template): type a message, Ctrl-D to quit\n", std::string(tmpl.name()).c_str());
  for (;;) {
    std::fprintf(stdout, "\n> ");
    std::fflush(stdout);
    std::string line;
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    std::vector<tokenizer::ChatMessage> added = {{"user", line}};
    std::vector<int32_t> prompt;
    if (history.empty() || history.back().role != "assistant") {
      auto all = history;
      all.insert(all.end(), added.begin(), added.end());
      prompt = tok.encode(tmpl.render(all, true), false, true);
    } else {
      prompt.push_back(end_of_last_answer);
      auto more = tok.encode(tmpl.render_continuation(history, added, true), false, true);
      prompt.insert(prompt.end(), more.begin(), more.end());
    }
    history.insert(history.end(), added.begin(), added.end());
    if (session.n_past() + static_cast<int64_t>(prompt.size()) >= session.n_ctx()) {
      std::fprintf(stderr, "\ngreta: the conversation no longer fits the context of %lld tokens (raise -c)\n",
                   static_cast<long long>(session.n_ctx()));
      break;
    }
    std::vector<int32_t> answer;
    std::string text;
    const auto st = generate(session, &tok, sampler, prompt, o.n_predict,
                             [&](std::string_view s) {
                               text += s;
                               std::fwrite(s.data(), 1, s.size(), stdout);
                               std::fflush(stdout);
                             },
                             &answer);
    end_of_last_answer = st.stopped_at_eog ? st.eog_token : (tok.eot() >= 0 ? tok.eot() : tok.eos());
    history.push_back({"assistant", text});
    if (st.context_full) {
      std::fprintf(stderr, "\ngreta: the context is full (raise -c)\n");
      break;
    }
  }
  std::fprintf(stdout, "\n");
  return 0;
}

}  // namespace

void register_chat(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "interactive multi-turn chat (keeps the KV cache between turns; Ctrl-D quits)");
  add_model_options(*cmd, o->model);
  add_sampling_options(*cmd, o->sampling);
  cmd->add_option("--system", o->system, "system message");
  cmd->add_option("--chat-template", o->chat_template, "llama3, llama2 or chatml (default: the model's)");
  cmd->add_option("-n,--n-predict", o->n_predict, "most tokens per reply")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->capture_default_str();
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
