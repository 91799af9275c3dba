// Long context on the GPU at full scale: an 8192-token prompt (Llama 3 chat text, tokenized
// with the real vocabulary) on a synthetic Llama-3-8B Q4_K_M, in the default (fast)
// precision: the prefill/decode audit passes with no op over its budget, and a prefill-only
// fault (the KV window misaddressed by a 2048-row chunk in layer 7) is localized. Writes
// the 4.6 GiB model to a temporary file first (about 20 s on a 16-core machine).
#include <gtest/gtest.h>

#include <unistd.h>

#include "audit/audit.h"
#include "cuda_fixture.h"
#include "synth/synth.h"
#include "tokenizer/tokenizer.h"

namespace greta::test {
namespace {

TEST(CudaLongContext, Audit8192TokensOnA8BModel) {
  GRETA_REQUIRE_CUDA();
  synth::SynthOptions o;
  o.shape = synth::preset("llama3-8b");
  o.type = synth::WeightType::parse("q4_k_m");
  o.vocab_path = shared_path("tokenizers/llama3/tokenizer.json");
  const std::string path = ::testing::TempDir() + "/long-context-8b-" + std::to_string(::getpid()) + ".gguf";
  synth::write_synth_model(o, path);
  {
    auto backend = make_backend("cuda", 2);
    LlamaModel model(gguf::GgufFile::open(path), *backend);
    const tokenizer::Tokenizer tok(tokenizer::Vocab::from_gguf(model.file()));
    // p6_long (a system turn and a user turn, 1,037 tokens) over and over, cut at 8192.
    const auto turn = tok.encode(read_file(shared_path("prompts/p6_long.txt")), false, true);
    std::vector<int32_t> tokens;
    while (tokens.size() < 8192) tokens.insert(tokens.end(), turn.begin(), turn.end());
    tokens.resize(8192);

    const auto clean = audit::run_audit(model, {{"p6_long_x8", tokens}}, {});
    const auto& p = clean.prompts[0];
    EXPECT_EQ(p.verdict, audit::Verdict::Pass);
    EXPECT_FALSE(p.root_cause.has_value());
    EXPECT_EQ(p.prefill_last_top1, p.decode0_top1);
    double worst = 0, worst_rel = 0;
    for (const auto& s : p.stages) {
      worst = std::max({worst, s.local_prefill.ratio, s.local_decode.ratio});
      worst_rel = std::max(worst_rel, s.rel_l2);
    }
    std::printf("8192 tokens, 8B q4_k_m: verdict %s, worst local error / budget %.3f, worst stage rel L2 %.3g, %.1f s\n",
                audit::verdict_name(p.verdict), worst, worst_rel, clean.seconds);

    audit::AuditOptions faulty;
    faulty.faults.faults.push_back(parse_fault("prefill:attn_out@7:offset=2048", 32));
    const auto f = audit::run_audit(model, {{"p6_long_x8", tokens}}, faulty);
    const auto& q = f.prompts[0];
    ASSERT_TRUE(q.root_cause.has_value());
    EXPECT_EQ(q.root_cause->route, "prefill");
    EXPECT_EQ(q.root_cause->stage.layer, 7);
    EXPECT_EQ(q.root_cause->stage.point, trace::Point::attn_out);
    EXPECT_EQ(f.exit_code(), 1);
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace greta::test
