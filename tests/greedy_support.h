#pragma once
// Greedy generation checked against a reference engine's greedy tokens: the same tokens
// until a step where greta's top two candidates are within 0.1 logit of each other (a
// near-tie that rounding may break either way); after such a fork the sequences are no
// longer comparable, and a fork anywhere else fails the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "model/session.h"

namespace greta::test {

// Returns the step of the fork, or -1 when all reference tokens were followed.
inline int expect_greedy_follows_until_near_tie(LlamaModel& model, const std::vector<int32_t>& prompt,
                                                const std::vector<int32_t>& greedy_tokens) {
  Session s(model, 0);
  auto logits = s.prefill(prompt);
  for (size_t i = 0; i < greedy_tokens.size(); ++i) {
    const auto ours = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (ours != greedy_tokens[i]) {
      EXPECT_LT(logits[ours] - logits[greedy_tokens[i]], 0.1) << "fork at step " << i << " is not a near-tie";
      return static_cast<int>(i);
    }
    logits = s.decode(ours);
  }
  return -1;
}

}  // namespace greta::test
