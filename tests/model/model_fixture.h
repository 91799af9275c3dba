#pragma once
// Loading the shared models and references for model tests.
#include <memory>
#include <string>

#include "../test_support.h"
#include "audit/reference.h"
#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf_file.h"
#include "model/llama_model.h"
#include "model/session.h"

namespace greta::test {

struct LoadedModel {
  std::unique_ptr<cpu::CpuBackend> backend;
  std::unique_ptr<LlamaModel> model;
};

inline LoadedModel load_shared_model(const std::string& name, int threads = 2) {
  LoadedModel m;
  m.backend = std::make_unique<cpu::CpuBackend>(threads);
  m.model = std::make_unique<LlamaModel>(gguf::GgufFile::open(shared_path("models/" + name)), *m.backend);
  return m;
}

// Greedy continuation by incremental decode after one prefill of the prompt.
inline std::vector<int32_t> greedy_continuation(LlamaModel& model, const std::vector<int32_t>& prompt, int n) {
  Session s(model, static_cast<int64_t>(prompt.size()) + n + 1);
  auto logits = s.prefill(prompt);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const int32_t t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(t);
    logits = s.decode(t);
  }
  return out;
}

}  // namespace greta::test
