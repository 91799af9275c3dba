#pragma once
// The score a perplexity is checked against, computed from given logits (llama.cpp's, the
// float64 forward's, or separate prefills') with a log-softmax written here, not greta's.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace greta::test {

struct NllSums {
  double nll = 0;
  int64_t count = 0;
  double perplexity() const { return std::exp(nll / static_cast<double>(count)); }
};

// Adds the NLLs of positions first .. n-2 predicting the token after each, from logits laid
// out [position][n_vocab], in double.
inline void add_nlls(const std::vector<float>& logits, int64_t n_vocab, std::span<const int32_t> tokens, int64_t first,
                     NllSums& s) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t p = first; p < n - 1; ++p) {
    const float* row = logits.data() + p * n_vocab;
    double m = row[0];
    for (int64_t v = 1; v < n_vocab; ++v) m = std::max(m, static_cast<double>(row[v]));
    double z = 0;
    for (int64_t v = 0; v < n_vocab; ++v) z += std::exp(row[v] - m);
    s.nll += m + std::log(z) - row[tokens[static_cast<size_t>(p + 1)]];
    ++s.count;
  }
}

}  // namespace greta::test
