#pragma once
// Perplexity of a model over a token sequence, scored as llama.cpp's perplexity tool does so
// that the numbers compare: the tokens are cut into windows of `window` tokens (the last
// tokens that do not fill one are left out and counted), each window is one prefill from
// position 0, and only its second half is scored (positions window/2 .. window-2 predict the
// tokens after them), so that every scored token sees at least half a window of context.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "model/session.h"

namespace greta {

struct PerplexityOptions {
  int64_t window = 512;
  int64_t max_windows = 0;           // 0: every whole window
  std::optional<int32_t> bos;        // when set, each window starts with this token (as the first does)
  int threads = 0;                   // CPU threads scoring the rows (0: all); any backend
};

struct PerplexityResult {
  double perplexity = 0;  // exp(mean negative log-likelihood)
  double error = 0;       // its standard error: perplexity × the standard error of the mean NLL
  double mean_nll = 0;
  int64_t scored = 0;     // tokens scored
  int64_t windows = 0;    // windows run
  int64_t left_out = 0;   // tokens after the last window
};

// Runs the windows through `session` (reset before each); each window's scored rows
// (log-softmax in double) are spread over `threads` CPU threads and added in order, so the
// result does not depend on their number. progress(i, n, running result)
// after window i of n. InputError when the sequence is shorter than one window, the window
// is shorter than 2 tokens or longer than the session's context.
PerplexityResult perplexity(Session& session, std::span<const int32_t> tokens, const PerplexityOptions& o,
                            const std::function<void(int64_t, int64_t, const PerplexityResult&)>& progress = {});

}  // namespace greta
