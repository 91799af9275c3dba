#include "model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/thread_pool.h"
#include "greta/error.h"

namespace greta {

namespace {
// -log softmax(logits)[target] in double precision.
double token_nll(std::span<const float> logits, int32_t target) {
  double max = -INFINITY;
  for (const float v : logits) max = std::max(max, static_cast<double>(v));
  double sum = 0;
  for (const float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return max + std::log(sum) - static_cast<double>(logits[static_cast<size_t>(target)]);
}

// The running result from the sums of the NLLs and of their squares.
PerplexityResult summarize(double nll, double nll2, int64_t count) {
  PerplexityResult r;
  r.scored = count;
  r.mean_nll = nll / static_cast<double>(count);
  r.perplexity = std::exp(r.mean_nll);
  if (count > 1) {
    const double var = std::max(0.0, nll2 / static_cast<double>(count) - r.mean_nll * r.mean_nll);
    r.error = r.perplexity * std::sqrt(var / static_cast<double>(count - 1));
  }
  return r;
}
}  // namespace

PerplexityResult perplexity(Session& session, std::span<const int32_t> tokens, const PerplexityOptions& o,
                            const std::function<void(int64_t, int64_t, const PerplexityResult&)>& progress) {
  const int64_t w = o.window, n_tokens = static_cast<int64_t>(tokens.size());
  if (w < 2) throw InputError("the perplexity window must hold at least 2 tokens (got " + std::to_string(w) + ")");
  if (w > session.n_ctx())
    throw InputError("a window of " + std::to_string(w) + " tokens does not fit the context of " +
                     std::to_string(session.n_ctx()) + ": lower the window or raise --ctx");
  if (n_tokens < w)
    throw InputError("perplexity needs at least one window of " + std::to_string(w) + " tokens; the text has " +
                     std::to_string(n_tokens) + ": give more text or a smaller window");
  int64_t n_windows = n_tokens / w;
  if (o.max_windows > 0) n_windows = std::min(n_windows, o.max_windows);
  const int64_t first = w / 2;
  const int64_t n_vocab = session.model().config().n_vocab;
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  std::vector<int32_t> win(static_cast<size_t>(w));
  cpu::ThreadPool pool(o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
  PerplexityResult r;
  for (int64_t i = 0; i < n_windows; ++i) {
    std::copy_n(tokens.begin() + i * w, w, win.begin());
    if (o.bos) win[0] = *o.bos;
    session.reset();
    const std::vector<float> logits = session.prefill(win, LogitsRows::All);
    // Rows scored on several threads (a 128k vocabulary costs ~0.5 ms a row in double), then
    // added in order, so the result does not depend on the thread count.
    std::vector<double> v(static_cast<size_t>(w - 1 - first));
    const int64_t n_rows = static_cast<int64_t>(v.size());
    pool.parallel_for(
        n_rows, 1,
        [&](int64_t begin, int64_t end, int) {
          for (int64_t k = begin; k < end; ++k) {
            const int64_t j = first + k;
            const std::span<const float> row(logits.data() + j * n_vocab, static_cast<size_t>(n_vocab));
            v[static_cast<size_t>(k)] = token_nll(row, win[static_cast<size_t>(j + 1)]);
          }
        },
        n_rows * n_vocab);
    for (const double x : v) {
      nll += x;
      nll2 += x * x;
      ++count;
    }
    r = summarize(nll, nll2, count);
    r.windows = i + 1;
    r.left_out = n_tokens - (i + 1) * w;
    if (progress) progress(i + 1, n_windows, r);
  }
  return r;
}

}  // namespace greta
