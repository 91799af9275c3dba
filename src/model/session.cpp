#include "model/session.h"

#include <numeric>

namespace greta {

Session::Session(LlamaModel& model, int64_t n_ctx) : model_(model) {
  if (n_ctx <= 0) n_ctx = model.config().n_ctx_train;
  cache_ = model.make_cache(n_ctx);
}

Session::~Session() { model_.free_cache(cache_); }

std::vector<float> Session::prefill(std::span<const int32_t> tokens, LogitsRows want) {
  return run(tokens, Path::Prefill, want);
}

std::vector<float> Session::decode(int32_t token) { return run({&token, 1}, Path::Decode, LogitsRows::Last); }

std::vector<float> Session::run(std::span<const int32_t> tokens, Path path, LogitsRows want) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return {};
  if (n_past_ + n > cache_.n_ctx)
    throw InputError(std::to_string(n) + " tokens after " + std::to_string(n_past_) + " already in the context do not fit the context size of " +
                     std::to_string(cache_.n_ctx) + " tokens (raise -c, up to the model's " +
                     std::to_string(model_.config().n_ctx_train) + ")");
  std::vector<int32_t> pos(n);
  std::iota(pos.begin(), pos.end(), static_cast<int32_t>(n_past_));
  const int64_t rows = want == LogitsRows::All ? n : (want == LogitsRows::Last ? 1 : 0);
  std::vector<float> logits(static_cast<size_t>(rows * model_.config().n_vocab));
  model_.forward(cache_, tokens.data(), pos.data(), n, path, want, logits.data(), hooks_);
  n_past_ += n;
  return logits;
}

}  // namespace greta
