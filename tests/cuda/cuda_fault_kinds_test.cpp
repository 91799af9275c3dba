// Every fault kind, injected on the CUDA backend, is localized to the injected route,
// point and layer (the kinds transpose, scale and offset are covered in cuda_audit_test).
#include <gtest/gtest.h>

#include "audit/audit.h"
#include "cuda_fixture.h"

namespace greta::test {
namespace {

struct KindCase {
  std::string spec, route;
  int layer;
  trace::Point point;
};

class CudaFaultKinds : public ::testing::TestWithParam<KindCase> {};

TEST_P(CudaFaultKinds, RootCauseIsTheInjectedStage) {
  GRETA_REQUIRE_CUDA();
  const auto& c = GetParam();
  BackendModel m("cuda", "stories260K.gguf", "exact");
  audit::AuditOptions o;
  o.faults.faults.push_back(parse_fault(c.spec, 5));
  const auto ref = Reference::load(shared_path("reference/stories260K/s2_story.json"));
  const auto r = audit::run_audit(*m.model, {{"s2_story", ref.prompt_tokens}}, o);
  const auto& p = r.prompts[0];
  ASSERT_TRUE(p.root_cause.has_value()) << c.spec;
  EXPECT_EQ(p.root_cause->route, c.route) << c.spec;
  EXPECT_EQ(p.root_cause->stage.layer, c.layer) << c.spec;
  EXPECT_EQ(p.root_cause->stage.point, c.point) << c.spec;
}

using P = trace::Point;
INSTANTIATE_TEST_SUITE_P(Kinds, CudaFaultKinds,
                         ::testing::Values(KindCase{"decode:v@2:zero", "decode", 2, P::v},
                                           KindCase{"prefill:mlp_out@4:noise=0.001", "prefill", 4, P::mlp_out},
                                           KindCase{"both:ffn_act@1:skip", "both", 1, P::ffn_act},
                                           KindCase{"decode:q_rope@3:skip", "decode", 3, P::q_rope},
                                           KindCase{"decode:x_in:offset=1", "decode", 0, P::x_in},
                                           KindCase{"prefill:logits:zero", "prefill", -1, P::logits}),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace greta::test
