#include "app/generate.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace greta::app {
namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

GenerationStats generate(Session& session, const tokenizer::Tokenizer* tok, sampling::Sampler& sampler,
                         std::span<const int32_t> prompt, int64_t n_predict,
                         const std::function<void(std::string_view)>& emit, std::vector<int32_t>* generated,
                         const std::function<void(int64_t)>& before_decode) {
  GenerationStats st;
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> prompt_logits = session.prefill(prompt);
  std::span<const float> logits = prompt_logits;  // then each decode step's row, in the session
  st.prefill_seconds = since(t0);
  for (int32_t t : prompt) sampler.accept(t);
  std::optional<tokenizer::StreamDecoder> text;
  // After a prompt of BOS alone the generated text starts the document, so SentencePiece's
  // leading space is dropped (as llama2.c prints it); after any other prompt it is kept.
  const bool starts_text = tok && prompt.size() == 1 && prompt[0] == tok->bos();
  if (tok) text.emplace(*tok, tokenizer::DecodeOptions{.sequence_start = starts_text});
  double decode_time = 0;
  for (int64_t i = 0; i < n_predict; ++i) {
    const int32_t next = sampler.sample(logits);
    sampler.accept(next);
    if (tok && tok->is_end_of_generation(next)) {
      st.stopped_at_eog = true;
      st.eog_token = next;
      break;
    }
    if (generated) generated->push_back(next);
    ++st.generated;
    emit(text ? text->push(next) : std::to_string(next) + " ");
    if (i + 1 == n_predict) break;
    if (session.n_past() >= session.n_ctx()) {
      st.context_full = true;
      break;
    }
    if (before_decode) before_decode(st.decode_steps);
    t0 = std::chrono::steady_clock::now();
    logits = session.decode_view(next);
    decode_time += since(t0);
    ++st.decode_steps;
  }
  if (text) emit(text->flush());
  st.decode_seconds = decode_time;
  return st;
}

void print_stats(const GenerationStats& s, double load_seconds) {
  auto rate = [](int64_t n, double sec) { return sec > 0 ? n / sec : 0.0; };
  std::fprintf(stderr, "\n\nload:    %.3f s\n", load_seconds);
  std::fprintf(stderr, "prefill: %lld tokens in %.2f ms (%.1f tok/s)\n", static_cast<long long>(s.prompt_tokens),
               s.prefill_seconds * 1e3, rate(s.prompt_tokens, s.prefill_seconds));
  std::fprintf(stderr, "decode:  %lld tokens in %.2f ms (%.1f tok/s)\n", static_cast<long long>(s.decode_steps),
               s.decode_seconds * 1e3, rate(s.decode_steps, s.decode_seconds));
  std::fprintf(stderr, "generated: %lld tokens%s\n", static_cast<long long>(s.generated), s.stopped_at_eog ? " (stopped at end of generation)" : "");
  if (s.context_full) std::fprintf(stderr, "stopped: the context is full (raise -c)\n");
}

}  // namespace greta::app
