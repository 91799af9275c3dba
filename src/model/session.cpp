#include "model/session.h"

#include <numeric>

namespace greta {

Session::Session(LlamaModel& model, int64_t n_ctx) : model_(model) {
  if (n_ctx <= 0) n_ctx = model.config().n_ctx_train;
  cache_ = model.make_cache(n_ctx);
}

Session::~Session() {
  model_.backend().free_host(step_logits_);
  model_.free_cache(cache_);
}

std::vector<float> Session::prefill(std::span<const int32_t> tokens, LogitsRows want) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return {};
  const int64_t rows = want == LogitsRows::All ? n : (want == LogitsRows::Last ? 1 : 0);
  std::vector<float> logits(static_cast<size_t>(rows * model_.config().n_vocab));
  forward(tokens, Path::Prefill, want, logits.data());
  return logits;
}

std::vector<float> Session::decode(int32_t token) {
  const std::span<const float> row = decode_view(token);
  return {row.begin(), row.end()};
}

std::span<const float> Session::decode_view(int32_t token) {
  const int64_t n_vocab = model_.config().n_vocab;
  if (!step_logits_) step_logits_ = model_.backend().alloc_host(n_vocab);
  forward({&token, 1}, Path::Decode, LogitsRows::Last, step_logits_);
  return {step_logits_, static_cast<size_t>(n_vocab)};
}

void Session::forward(std::span<const int32_t> tokens, Path path, LogitsRows want, float* logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n_past_ + n > cache_.n_ctx)
    throw InputError(std::to_string(n) + " tokens after " + std::to_string(n_past_) + " already in the context do not fit the context size of " +
                     std::to_string(cache_.n_ctx) + " tokens (raise -c, up to the model's " +
                     std::to_string(model_.config().n_ctx_train) + ")");
  std::vector<int32_t> pos(n);
  std::iota(pos.begin(), pos.end(), static_cast<int32_t>(n_past_));
  model_.forward(cache_, tokens.data(), pos.data(), n, path, want, logits, hooks_);
  n_past_ += n;
}

}  // namespace greta
