#pragma once
// Shared set-up for the CUDA backend tests. Every test starts with GRETA_REQUIRE_CUDA():
// without a CUDA build or without a device (CI) it skips with the reason printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "../test_support.h"
#include "audit/reference.h"
#include "backend/backend_factory.h"
#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf_file.h"
#include "model/llama_model.h"
#include "model/session.h"

#define GRETA_REQUIRE_CUDA()                                                                      \
  do {                                                                                            \
    if (!::greta::cuda_device_available()) {                                                      \
      const char* why = ::greta::cuda_backend_built() ? "no CUDA device: skipped"                 \
                                                      : "built without CUDA (no CUDA device): skipped"; \
      std::printf("%s\n", why);                                                                   \
      GTEST_SKIP() << why;                                                                        \
    }                                                                                             \
  } while (0)

namespace greta::test {

// A model on a backend ("cuda" or "cpu") with a precision ("" default, "fast", "exact").
struct BackendModel {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<LlamaModel> model;
  BackendModel(const std::string& backend_name, const std::string& model_file, const std::string& precision = "")
      : backend(make_backend(backend_name, 2, precision)),
        model(std::make_unique<LlamaModel>(gguf::GgufFile::open(shared_path("models/" + model_file)), *backend)) {}
};

// What the CUDA model tests allow per precision: the exact f32 contract keeps the CPU's
// thresholds; fast (f16 operands, unit u = 2^-11) is held to 16u relative L2 on logits, a
// quarter of the audit's default stage tolerance for such routes (the small models' logits
// measured at most 1.1e-3 on an H100).
struct PrecisionClass {
  std::string name;
  double rel_l2;  // logits vs the float64 forward, the CPU, or the other route
};
inline const PrecisionClass kExact{"exact", 1e-4};
inline const PrecisionClass kFast{"fast", 16 * 0x1.0p-11};
inline std::string precision_test_name(const std::string& s) {
  std::string n = s.substr(0, s.find('.'));
  for (auto& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

inline std::vector<int32_t> greedy_continuation(LlamaModel& model, const std::vector<int32_t>& prompt, int n) {
  Session s(model, static_cast<int64_t>(prompt.size()) + n + 1);
  auto logits = s.prefill(prompt);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const auto t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(t);
    logits = s.decode(t);
  }
  return out;
}

inline double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    n += double(a[i]) * a[i];
  }
  return std::sqrt(d / n);
}

}  // namespace greta::test
