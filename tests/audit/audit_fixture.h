#pragma once
// Shared set-up for audit tests: a model and the reference prompts as audit prompts.
#include <memory>
#include <string>
#include <vector>

#include "../test_support.h"
#include "audit/audit.h"
#include "audit/reference.h"
#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf_file.h"

namespace greta::test {

struct AuditModel {
  std::unique_ptr<cpu::CpuBackend> backend = std::make_unique<cpu::CpuBackend>(2);
  std::unique_ptr<LlamaModel> model;
  explicit AuditModel(const std::string& name)
      : model(std::make_unique<LlamaModel>(gguf::GgufFile::open(shared_path("models/" + name)), *backend)) {}
};

inline audit::AuditPrompt ref_prompt(const std::string& rel) {
  const auto r = Reference::load(shared_path(rel));
  return {rel.substr(rel.rfind('/') + 1), r.prompt_tokens};
}

inline std::vector<audit::AuditPrompt> stories_prompts() {
  std::vector<audit::AuditPrompt> p;
  for (const char* n : {"s0_bos_only", "s1_short", "s2_story", "s3_long"})
    p.push_back(ref_prompt(std::string("reference/stories260K/") + n + ".json"));
  return p;
}

inline audit::AuditOptions with_faults(const std::vector<std::string>& specs, int n_layers) {
  audit::AuditOptions o;
  for (const auto& s : specs) o.faults.faults.push_back(parse_fault(s, n_layers));
  return o;
}

inline const audit::StageResult* find_stage(const audit::PromptAudit& p, int layer, trace::Point point) {
  for (const auto& s : p.stages)
    if (s.id.layer == layer && s.id.point == point) return &s;
  return nullptr;
}

}  // namespace greta::test
