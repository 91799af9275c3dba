#pragma once
// A synthetic model whose every product the streamed decode GEMV takes (rows of whole
// 2048-weight chunks: 2048 and 6144 wide, the output matrix too) in the Q4_K_M mix (Q6_K v
// and down in some layers), and a short greedy decode of it: for the tests that compare
// the CUDA backend's decode options bit for bit (the decode chain, the add + rmsnorm split
// over two products).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda_fixture.h"
#include "synth/synth.h"

namespace greta::test {

// Written into the test temp folder under `tag`; the caller removes it.
inline std::string write_streamed_model(const std::string& tag) {
  synth::SynthOptions o;
  // vocab, dim, layers, heads, kv_heads, ffn, ctx, rope base.
  o.shape = synth::parse_shape("1000,2048,4,16,4,6144,256,10000");
  o.type = synth::WeightType::parse("q4_k_m");
  const std::string path = ::testing::TempDir() + "/" + tag + "-q4_k_m-" + std::to_string(::getpid()) + ".gguf";
  synth::write_synth_model(o, path);
  return path;
}

// The logits of a 9-token prompt's prefill and then of 12 decode steps; the steps take
// `tokens`, extended greedily where it is shorter (so later runs decode the first run's tokens).
inline std::vector<std::vector<float>> greedy_decode_logits(LlamaModel& model, std::vector<int32_t>& tokens) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < 9; ++i) prompt.push_back(static_cast<int32_t>((7 + 131 * i) % model.config().n_vocab));
  Session s(model, 64);
  std::vector<std::vector<float>> logits{s.prefill(prompt)};
  for (int i = 0; i < 12; ++i) {
    const auto& last = logits.back();
    if (static_cast<int>(tokens.size()) <= i)
      tokens.push_back(static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin()));
    logits.push_back(s.decode(tokens[i]));
  }
  return logits;
}

}  // namespace greta::test
