// Cross-backend audit: CUDA's stages against the CPU's, for prefill_last and decode0.
#include "cuda_fixture.h"

#include "audit/audit.h"

namespace greta::test {
namespace {

audit::AuditPrompt reference_prompt(const std::string& rel) {
  return {rel.substr(rel.rfind('/') + 1), Reference::load(shared_path(rel)).prompt_tokens};
}

class CudaCrossBackend : public ::testing::TestWithParam<PrecisionClass> {};

TEST_P(CudaCrossBackend, EveryStageAgreesWithTheCpu) {
  GRETA_REQUIRE_CUDA();
  for (const auto& [file, ref] : std::vector<std::pair<std::string, std::string>>{
           {"stories260K.gguf", "reference/stories260K/s3_long.json"},
           {"synth-tiny-q4_k_m.gguf", "reference/synth/synth-tiny-q4_k_m.ids48.json"},
           {"synth-tiny-mix.gguf", "reference/synth/synth-tiny-mix.ids48.json"}}) {
    BackendModel gpu("cuda", file, GetParam().name), cpu("cpu", file);
    audit::AuditOptions o;
    o.reference = cpu.model.get();
    const auto r = audit::run_audit(*gpu.model, {reference_prompt(ref)}, o);
    const auto& x = r.prompts[0].cross;
    ASSERT_TRUE(x.ran);
    // Exact: both backends keep f32 activations and exact weights; only summation order
    // differs, so every stage agrees far inside the 1e-3 cross-backend tolerance. Fast: the
    // tolerance for f16 operands (16u).
    EXPECT_TRUE(x.passed) << file << ": max rel L2 " << x.max_rel_l2;
    std::printf("%s %s: cross-backend max rel L2 %.3g (tolerance %.3g)\n", file.c_str(), GetParam().name.c_str(),
                x.max_rel_l2, x.tolerance);
    EXPECT_FALSE(r.prompts[0].root_cause.has_value()) << file;
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaCrossBackend, ::testing::Values(kExact, kFast),
                         [](const auto& info) { return info.param.name; });

TEST(CudaCrossBackendFault, AFaultOnTheGpuIsFoundAgainstTheCpu) {
  GRETA_REQUIRE_CUDA();
  BackendModel gpu("cuda", "stories260K.gguf", "exact"), cpu("cpu", "stories260K.gguf");
  audit::AuditOptions o;
  o.reference = cpu.model.get();
  o.faults.faults.push_back(parse_fault("both:gate@2:scale=1.01", 5));
  const auto r = audit::run_audit(*gpu.model, {reference_prompt("reference/stories260K/s2_story.json")}, o);
  const auto& x = r.prompts[0].cross;
  ASSERT_TRUE(x.first_mismatch.has_value());
  EXPECT_EQ(x.first_mismatch->layer, 2);
  EXPECT_EQ(x.first_mismatch->point, trace::Point::gate);
  EXPECT_EQ(r.exit_code(), 1);
}

}  // namespace
}  // namespace greta::test
