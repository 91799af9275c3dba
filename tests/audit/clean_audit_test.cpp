// Audits without faults: every verdict EXACT or PASS, no op over its budget.
#include <gtest/gtest.h>

#include "audit_fixture.h"

namespace greta::test {
namespace {

void expect_clean(const audit::AuditReport& r) {
  EXPECT_EQ(r.exit_code(), 0);
  for (const auto& p : r.prompts) {
    EXPECT_TRUE(p.verdict == audit::Verdict::Exact || p.verdict == audit::Verdict::Pass) << p.id << ": " << audit::verdict_name(p.verdict);
    EXPECT_FALSE(p.root_cause.has_value()) << p.id;
    EXPECT_EQ(p.prefill_last_top1, p.decode0_top1) << p.id;
    for (const auto& s : p.stages) {
      EXPECT_TRUE(s.local_prefill.checked && s.local_decode.checked) << p.id << " " << trace::point_name(s.id.point);
      EXPECT_LE(s.local_prefill.ratio, 1.0) << p.id << " L" << s.id.layer << " " << trace::point_name(s.id.point);
      EXPECT_LE(s.local_decode.ratio, 1.0) << p.id << " L" << s.id.layer << " " << trace::point_name(s.id.point);
    }
  }
}

TEST(CleanAudit, Stories260KAllReferencePrompts) {
  AuditModel m("stories260K.gguf");
  audit::AuditOptions o;
  o.span = 8;
  const auto r = audit::run_audit(*m.model, stories_prompts(), o);
  ASSERT_EQ(r.prompts.size(), 4u);
  expect_clean(r);
  for (const auto& p : r.prompts) {
    EXPECT_TRUE(p.span.passed) << p.id;
    // The exact routes differ in summation order only: far below a thousandth of the range.
    EXPECT_LE(p.span.max_rel, 1e-3) << p.id;
    EXPECT_LE(p.span.max_abs, p.span.max_rel * 1e3) << p.id;  // stories260K's logits span < 1000
  }
}

TEST(CleanAudit, SyntheticQuantizedModels) {
  for (const std::string name : {"synth-tiny-q4_k_m", "synth-tiny-mix"}) {
    AuditModel m(name + ".gguf");
    audit::AuditOptions o;
    o.span = 8;
    const auto r = audit::run_audit(*m.model, {ref_prompt("reference/synth/" + name + ".ids48.json")}, o);
    expect_clean(r);
    EXPECT_TRUE(r.prompts[0].span.passed) << name;
  }
}

TEST(CleanAudit, ForcedRoutesStayClean) {
  AuditModel m("synth-tiny-mix.gguf");
  audit::AuditOptions o;
  o.routes.prefill = Route::Gemv;
  o.routes.decode = Route::Gemm;
  expect_clean(audit::run_audit(*m.model, {ref_prompt("reference/synth/synth-tiny-mix.ids48.json")}, o));
}

TEST(CleanAudit, RepeatedRunsAreBitIdentical) {
  AuditModel m("stories260K.gguf");
  audit::AuditOptions o;
  o.repeat = 3;
  o.span = 4;
  const auto r = audit::run_audit(*m.model, stories_prompts(), o);
  EXPECT_TRUE(r.repeat_identical) << r.repeat_detail;
  EXPECT_EQ(r.exit_code(), 0);
}

}  // namespace
}  // namespace greta::test
