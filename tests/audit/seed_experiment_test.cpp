// The seed experiment: GRETA CORE's three Llama 3 chat prompts, tokenized properly, audited
// end to end on a synthetic model that carries the real Llama 3 vocabulary.
#include <gtest/gtest.h>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "audit_fixture.h"
#include "synth/synth.h"
#include "tokenizer/tokenizer.h"

namespace greta::test {
namespace {

TEST(SeedExperiment, Llama3PromptsAuditCleanOnASyntheticModelWithTheRealVocabulary) {
  synth::SynthOptions o;
  o.shape = synth::preset("tiny");
  o.type = synth::WeightType::parse("q4_k_m");
  o.vocab_path = shared_path("tokenizers/llama3/tokenizer.json");
  const std::string path = ::testing::TempDir() + "/seed-tiny-llama3-" + std::to_string(::getpid()) + ".gguf";
  synth::write_synth_model(o, path);

  auto backend = std::make_unique<cpu::CpuBackend>(2);
  LlamaModel model(gguf::GgufFile::open(path), *backend);
  const tokenizer::Tokenizer tok(tokenizer::Vocab::from_gguf(model.file()));
  const auto expected = nlohmann::json::parse(read_file(shared_path("prompts/llama3_tokens.json")))["tokens"];

  std::vector<audit::AuditPrompt> prompts;
  for (const std::string id : {"p0_short", "p4_sys", "p6_long"}) {
    const auto ids = tok.encode(read_file(shared_path("prompts/" + id + ".txt")), false, true);
    EXPECT_EQ(ids, expected[id].get<std::vector<int32_t>>()) << id;
    prompts.push_back({id, ids});
  }
  audit::AuditOptions ao;
  ao.span = 4;
  const auto r = audit::run_audit(model, prompts, ao);
  ASSERT_EQ(r.prompts.size(), 3u);
  for (const auto& p : r.prompts) {
    EXPECT_TRUE(p.verdict == audit::Verdict::Exact || p.verdict == audit::Verdict::Pass) << p.id;
    EXPECT_FALSE(p.collapse) << p.id;
    EXPECT_TRUE(p.span.passed) << p.id;
  }
  EXPECT_EQ(r.exit_code(), 0);

  // And the B3.39 bug on the same prompts is found on the decode route at the injected layer.
  auto faulty = with_faults({"decode:wo_out@1:transpose"}, 4);
  const auto f = audit::run_audit(model, prompts, faulty);
  for (const auto& p : f.prompts) {
    ASSERT_TRUE(p.root_cause.has_value()) << p.id;
    EXPECT_EQ(p.root_cause->route, "decode");
    EXPECT_EQ(p.root_cause->stage.point, trace::Point::wo_out);
    EXPECT_EQ(p.root_cause->stage.layer, 1);
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace greta::test
