#pragma once
// A Session is one sequence being generated: it owns the KV cache and the position.
#include <algorithm>
#include <span>
#include <vector>

#include "model/llama_model.h"

namespace greta {

class Session {
 public:
  // n_ctx: cache capacity in tokens (0 = the model's training context).
  Session(LlamaModel& model, int64_t n_ctx);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  LlamaModel& model() const { return model_; }
  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return cache_.n_ctx; }
  const KvCache& cache() const { return cache_; }
  LlamaModel::Hooks& hooks() { return hooks_; }

  // Runs tokens at positions n_past.. through the prefill path (matrix-matrix route).
  // Returns the logits of the last row, or of every row with LogitsRows::All.
  // Tokens that do not fit the context are refused (InputError), never truncated.
  std::vector<float> prefill(std::span<const int32_t> tokens, LogitsRows want = LogitsRows::Last);
  // Runs one token through the decode path (matrix-vector route) and returns its logits.
  std::vector<float> decode(int32_t token);
  // decode() without the copy: the logits stay in memory the session owns (read back by
  // the backend's fastest copy) and are valid until the session's next decode or decode_view.
  std::span<const float> decode_view(int32_t token);
  // Forgets the sequence (the cache is overwritten from position 0).
  void reset() { n_past_ = 0; }
  // Keeps the first n tokens and forgets the rest (n ≤ n_past).
  void truncate(int64_t n) { n_past_ = std::min(n_past_, std::max<int64_t>(n, 0)); }

 private:
  // Runs tokens at n_past.. (refusing what does not fit) with the wanted rows' logits into `logits`.
  void forward(std::span<const int32_t> tokens, Path path, LogitsRows want, float* logits);
  LlamaModel& model_;
  KvCache cache_;
  float* step_logits_ = nullptr;  // decode_view's row, from Backend::alloc_host
  int64_t n_past_ = 0;
  LlamaModel::Hooks hooks_;
};

}  // namespace greta
