// Injected faults must be localized to exactly the injected route, point and layer.
#include <gtest/gtest.h>

#include "audit_fixture.h"

namespace greta::test {
namespace {

struct FaultCase {
  std::string model, spec, route;
  int layer;
  trace::Point point;
};

class FaultLocalization : public ::testing::TestWithParam<FaultCase> {};

TEST_P(FaultLocalization, RootCauseIsTheInjectedStage) {
  const auto& c = GetParam();
  AuditModel m(c.model);
  const auto prompt = c.model == "stories260K.gguf" ? ref_prompt("reference/stories260K/s2_story.json")
                                                    : ref_prompt("reference/synth/" + c.model.substr(0, c.model.size() - 5) + ".ids48.json");
  auto o = with_faults({c.spec}, static_cast<int>(m.model->config().n_layers));
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
INSTANTIATE_TEST_SUITE_P(
    Faults, FaultLocalization,
    ::testing::Values(
        FaultCase{"stories260K.gguf", "decode:wo_out@2:transpose", "decode", 2, P::wo_out},
        FaultCase{"stories260K.gguf", "prefill:q@1:transpose", "prefill", 1, P::q},
        FaultCase{"stories260K.gguf", "both:gate@3:transpose", "both", 3, P::gate},
        FaultCase{"stories260K.gguf", "decode:x_in:offset=1", "decode", 0, P::x_in},
        FaultCase{"stories260K.gguf", "both:attn_out@3:offset=2", "both", 3, P::attn_out},
        FaultCase{"stories260K.gguf", "prefill:k_rope@0:offset=1", "prefill", 0, P::k_rope},
        FaultCase{"stories260K.gguf", "decode:attn_norm@4:offset=3", "decode", 4, P::attn_norm},
        FaultCase{"stories260K.gguf", "prefill:q@1:scale=1.001", "prefill", 1, P::q},
        FaultCase{"stories260K.gguf", "decode:mlp_out@4:scale=1.001", "decode", 4, P::mlp_out},
        FaultCase{"stories260K.gguf", "both:x_after_attn@2:scale=1.001", "both", 2, P::x_after_attn},
        FaultCase{"stories260K.gguf", "decode:logits:zero", "decode", -1, P::logits},
        FaultCase{"stories260K.gguf", "prefill:v@2:zero", "prefill", 2, P::v},
        FaultCase{"stories260K.gguf", "decode:k_rope@4:noise=0.01", "decode", 4, P::k_rope},
        FaultCase{"stories260K.gguf", "both:ffn_norm@1:noise=0.001", "both", 1, P::ffn_norm},
        FaultCase{"stories260K.gguf", "both:ffn_act@0:skip", "both", 0, P::ffn_act},
        FaultCase{"stories260K.gguf", "decode:q_rope@2:skip", "decode", 2, P::q_rope},
        FaultCase{"stories260K.gguf", "prefill:final_norm:skip", "prefill", -1, P::final_norm},
        FaultCase{"synth-tiny-q4_k_m.gguf", "decode:wo_out@1:transpose", "decode", 1, P::wo_out},
        FaultCase{"synth-tiny-q4_k_m.gguf", "both:up@2:scale=1.001", "both", 2, P::up},
        FaultCase{"synth-tiny-mix.gguf", "decode:mlp_out@3:noise=0.001", "decode", 3, P::mlp_out},
        FaultCase{"synth-tiny-mix.gguf", "prefill:x_out@0:offset=5", "prefill", 0, P::x_out}));

TEST(FaultSignature, DecodeWoTransposeReproducesB339) {
  // B3.39: attn_out equal, wo_out differs, x_after_attn inherits it.
  AuditModel m("stories260K.gguf");
  auto o = with_faults({"decode:wo_out@2:transpose"}, 5);
  const auto r = audit::run_audit(*m.model, {ref_prompt("reference/stories260K/s2_story.json")}, o);
  const auto& p = r.prompts[0];
  EXPECT_TRUE(find_stage(p, 2, trace::Point::attn_out)->bit_equal);
  EXPECT_FALSE(find_stage(p, 2, trace::Point::wo_out)->bit_equal);
  EXPECT_GT(find_stage(p, 2, trace::Point::x_after_attn)->mae, 0.0);
  ASSERT_TRUE(p.first_mismatch.has_value());
  EXPECT_EQ(p.first_mismatch->point, trace::Point::wo_out);
  EXPECT_EQ(p.first_mismatch->layer, 2);
}

TEST(FaultSignature, BothRoutesAgreeButLocalChecksCatchIt) {
  AuditModel m("stories260K.gguf");
  auto o = with_faults({"both:wo_out@1:transpose"}, 5);
  const auto r = audit::run_audit(*m.model, {ref_prompt("reference/stories260K/s2_story.json")}, o);
  const auto& p = r.prompts[0];
  EXPECT_FALSE(p.first_mismatch.has_value());  // the two paths agree with each other...
  ASSERT_TRUE(p.root_cause.has_value());       // ...and the float64 recompute still finds the bug
  EXPECT_EQ(p.root_cause->route, "both");
}

TEST(Collapse, DecodeFaultThatPinsTheTokenIsReported) {
  AuditModel m("stories260K.gguf");
  auto o = with_faults({"decode:logits:zero"}, 5);
  const auto r = audit::run_audit(*m.model, stories_prompts(), o);
  EXPECT_TRUE(r.collapse) << r.collapse_detail;
  EXPECT_EQ(r.exit_code(), 1);
  audit::AuditOptions clean;
  EXPECT_FALSE(audit::run_audit(*m.model, stories_prompts(), clean).collapse);
}

TEST(SpanGate, FailsUnderADecodeFault) {
  AuditModel m("stories260K.gguf");
  auto o = with_faults({"decode:wo_out@2:scale=1.5"}, 5);
  o.span = 16;
  const auto r = audit::run_audit(*m.model, {ref_prompt("reference/stories260K/s2_story.json")}, o);
  EXPECT_FALSE(r.prompts[0].span.passed);
  EXPECT_GT(r.prompts[0].span.mean_kl, 0.0);
  EXPECT_GT(r.prompts[0].span.max_rel, 1e-3);
}

}  // namespace
}  // namespace greta::test

namespace greta::test {
namespace {

TEST(CrossBackend, CleanRunsAgreeAndAFaultOnOneSideIsFound) {
  AuditModel m("stories260K.gguf"), ref("stories260K.gguf");
  audit::AuditOptions clean;
  clean.reference = ref.model.get();
  const auto c = audit::run_audit(*m.model, {ref_prompt("reference/stories260K/s2_story.json")}, clean);
  ASSERT_TRUE(c.prompts[0].cross.ran);
  EXPECT_TRUE(c.prompts[0].cross.passed);
  EXPECT_EQ(c.prompts[0].cross.max_rel_l2, 0.0);  // same CPU kernels on both sides
  EXPECT_EQ(c.exit_code(), 0);

  // A fault on both routes of the audited backend: the two paths agree with each other,
  // but the reference backend does not.
  auto faulty = with_faults({"both:up@3:scale=1.01"}, 5);
  faulty.reference = ref.model.get();
  const auto f = audit::run_audit(*m.model, {ref_prompt("reference/stories260K/s2_story.json")}, faulty);
  const auto& x = f.prompts[0].cross;
  EXPECT_FALSE(x.passed);
  ASSERT_TRUE(x.first_mismatch.has_value());
  EXPECT_EQ(x.first_mismatch->layer, 3);
  EXPECT_EQ(x.first_mismatch->point, trace::Point::up);
  EXPECT_EQ(f.exit_code(), 1);
}

}  // namespace
}  // namespace greta::test
