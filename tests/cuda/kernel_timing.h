#pragma once
// Timing for the disabled KernelBench tests (speed lives in benchmarks, not tests).
#include <algorithm>
#include <chrono>
#include <vector>

#include "model/backend.h"

namespace greta::test {

// Median over `reps` of the time of `inner` back-to-back runs of fn, divided by inner
// (launch gaps hidden behind queued work, as in a forward pass), after one warm-up run.
template <class F>
double median_seconds(Backend& b, int reps, int inner, F&& fn) {
  std::vector<double> t;
  fn();
  b.synchronize();
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int j = 0; j < inner; ++j) fn();
    b.synchronize();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace greta::test
