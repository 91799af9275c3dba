// Sampler cost per token on a vocabulary-sized row (the Llama 3 vocabulary's 128,256
// logits, normally distributed with sd 3): greedy, the default chain (top-k 40, top-p 0.95,
// min-p 0.05, temperature 0.8), top-p alone over every id, min-p alone. On a GPU this time
// sits between two decode steps, so it adds to every generated token.
//
//   sampler_bench [VOCAB]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "sampling/sampler.h"

using greta::sampling::Sampler;
using greta::sampling::SamplerParams;

int main(int argc, char** argv) {
  const size_t vocab = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 128256;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<std::vector<float>> rows(16, std::vector<float>(vocab));
  for (auto& row : rows)
    for (auto& x : row) x = dist(rng);

  struct Setting {
    const char* name;
    SamplerParams p;
  };
  SamplerParams greedy, defaults, top_p, min_p;
  greedy.temperature = 0.0f;
  top_p.top_k = 0, top_p.min_p = 0.0f;
  min_p.top_k = 0, min_p.top_p = 1.0f;
  const Setting settings[] = {{"greedy", greedy}, {"defaults", defaults}, {"top-p only", top_p}, {"min-p only", min_p}};
  int sink = 0;
  std::printf("vocabulary %zu: us per token (best of 3 rounds of %zu rows)\n", vocab, rows.size());
  for (const Setting& s : settings) {
    Sampler sampler(s.p);
    double best = 1e30;
    for (int round = 0; round < 3; ++round) {
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& row : rows) sink += sampler.sample(row);
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, us / static_cast<double>(rows.size()));
    }
    std::printf("  %-11s %9.1f\n", s.name, best);
  }
  return sink == -1;  // keeps the draws
}
