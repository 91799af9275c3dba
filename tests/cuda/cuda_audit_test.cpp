// The audit on the CUDA backend: clean runs stay within every op's local budget, and
// injected faults are localized to the injected route, point and layer.
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "audit/audit.h"
#include "cuda_fixture.h"

namespace greta::test {
namespace {

audit::AuditPrompt ref_prompt(const std::string& rel) {
  const auto r = Reference::load(shared_path(rel));
  return {rel.substr(rel.rfind('/') + 1), r.prompt_tokens};
}

std::vector<audit::AuditPrompt> prompts_for(const std::string& model) {
  if (model != "stories260K") return {ref_prompt("reference/synth/" + model + ".ids48.json")};
  std::vector<audit::AuditPrompt> p;
  for (const char* n : {"s0_bos_only", "s1_short", "s2_story", "s3_long"})
    p.push_back(ref_prompt(std::string("reference/stories260K/") + n + ".json"));
  return p;
}

class CudaCleanAudit : public ::testing::TestWithParam<std::tuple<std::string, PrecisionClass>> {};

// No local violation anywhere: every stage of both runs within its rounding budget, in
// both precisions (the fast one's budgets carry the f16 operand rounding of the prefill
// route). The routes are not bit-equal on the GPU, so the verdict is PASS.
TEST_P(CudaCleanAudit, NoLocalViolation) {
  GRETA_REQUIRE_CUDA();
  const auto& [model, pc] = GetParam();
  BackendModel m("cuda", model + ".gguf", pc.name);
  audit::AuditOptions o;
  o.span = 8;
  const auto r = audit::run_audit(*m.model, prompts_for(model), o);
  for (const auto& p : r.prompts) {
    // EXACT where every product of the prompt ran the GEMV kernel (a one-token prefill).
    EXPECT_TRUE(p.verdict == audit::Verdict::Pass || p.verdict == audit::Verdict::Exact) << p.id;
    EXPECT_FALSE(p.root_cause.has_value()) << p.id;
    EXPECT_EQ(p.prefill_last_top1, p.decode0_top1) << p.id;
    EXPECT_TRUE(p.span.passed) << p.id;
    double worst = 0;
    for (const auto& s : p.stages) {
      EXPECT_TRUE(s.local_prefill.checked && s.local_decode.checked) << p.id << " " << trace::point_name(s.id.point);
      EXPECT_LE(s.local_prefill.ratio, 1.0) << p.id << " L" << s.id.layer << " " << trace::point_name(s.id.point);
      EXPECT_LE(s.local_decode.ratio, 1.0) << p.id << " L" << s.id.layer << " " << trace::point_name(s.id.point);
      worst = std::max({worst, s.local_prefill.ratio, s.local_decode.ratio});
    }
    double worst_rel = 0;
    for (const auto& s : p.stages) worst_rel = std::max(worst_rel, s.rel_l2);
    std::printf("%s %s %s: verdict %s, worst local error / budget %.3f, worst stage rel L2 %.3g (tolerance %.3g)\n",
                model.c_str(), pc.name.c_str(), p.id.c_str(), audit::verdict_name(p.verdict), worst, worst_rel,
                r.tolerance);
  }
  EXPECT_FALSE(r.collapse) << r.collapse_detail;
}

INSTANTIATE_TEST_SUITE_P(Models, CudaCleanAudit,
                         ::testing::Combine(::testing::Values("stories260K", "synth-tiny-q4_k_m", "synth-tiny-mix"),
                                            ::testing::Values(kExact, kFast)),
                         [](const auto& info) {
                           return precision_test_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
                         });

struct FaultCase {
  std::string model, spec, route;
  int layer;
  trace::Point point;
  std::string precision = "exact";
};

class CudaFaultLocalization : public ::testing::TestWithParam<FaultCase> {};

TEST_P(CudaFaultLocalization, RootCauseIsTheInjectedStage) {
  GRETA_REQUIRE_CUDA();
  const auto& c = GetParam();
  BackendModel m("cuda", c.model + ".gguf", c.precision);
  const auto prompt = c.model == "stories260K" ? ref_prompt("reference/stories260K/s2_story.json")
                                               : ref_prompt("reference/synth/" + c.model + ".ids48.json");
  audit::AuditOptions o;
  o.faults.faults.push_back(parse_fault(c.spec, static_cast<int>(m.model->config().n_layers)));
  const auto r = audit::run_audit(*m.model, {prompt}, o);
  const auto& p = r.prompts[0];
  ASSERT_TRUE(p.root_cause.has_value()) << c.spec;
  EXPECT_EQ(p.root_cause->route, c.route) << c.spec;
  EXPECT_EQ(p.root_cause->stage.layer, c.layer) << c.spec;
  EXPECT_EQ(p.root_cause->stage.point, c.point) << c.spec << " found " << trace::point_name(p.root_cause->stage.point);
  EXPECT_EQ(p.verdict, audit::Verdict::Mismatch);
  EXPECT_EQ(r.exit_code(), 1);
}

using P = trace::Point;
INSTANTIATE_TEST_SUITE_P(Faults, CudaFaultLocalization,
                         ::testing::Values(FaultCase{"stories260K", "decode:wo_out@1:transpose", "decode", 1, P::wo_out},
                                           FaultCase{"synth-tiny-q4_k_m", "decode:wo_out@1:transpose", "decode", 1, P::wo_out},
                                           FaultCase{"stories260K", "prefill:q@2:scale=1.001", "prefill", 2, P::q},
                                           FaultCase{"synth-tiny-mix", "prefill:q@2:scale=1.001", "prefill", 2, P::q},
                                           FaultCase{"stories260K", "both:attn_out@3:offset=2", "both", 3, P::attn_out},
                                           // Fast precision: prefill on tensor cores with f16
                                           // operands, faults above that route's wider budget.
                                           FaultCase{"stories260K", "decode:wo_out@1:transpose", "decode", 1, P::wo_out, "fast"},
                                           FaultCase{"synth-tiny-mix", "prefill:q@2:scale=1.05", "prefill", 2, P::q, "fast"},
                                           FaultCase{"stories260K", "prefill:attn_out@3:offset=2", "prefill", 3, P::attn_out, "fast"},
                                           FaultCase{"synth-tiny-q4_k_m", "prefill:mlp_out@2:noise=0.05", "prefill", 2, P::mlp_out,
                                                     "fast"}),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace greta::test
