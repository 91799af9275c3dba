// Full scale on the GPU, a synthetic Llama-3-8B Q4_K_M with the real Llama 3 vocabulary
// (written once for the suite to a temporary file, 4.6 GiB, about 20 s on 16 cores):
// - an 8192-token prompt (Llama 3 chat text) in the default (fast) precision: the
//   prefill/decode audit passes with no op over its budget, and a prefill-only fault (the
//   KV window misaddressed by a 2048-row chunk in layer 7) is localized;
// - decode against prefill over 64 generated tokens (the span gate) in both precisions:
//   top-1 agrees at every position; in the exact precision the largest logit difference
//   stays below a thousandth of the logit range. The fast precision rounds activations to
//   f16 at every product, which turns the routes' different summation orders into
//   different roundings a few layers on: a few thousandths of the range (printed; bounded
//   at 1e-2).
#include <gtest/gtest.h>

#include <unistd.h>

#include "audit/audit.h"
#include "cuda_fixture.h"
#include "synth/synth.h"
#include "tokenizer/tokenizer.h"

namespace greta::test {
namespace {

class CudaLlama8B : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!cuda_device_available()) return;
    synth::SynthOptions o;
    o.shape = synth::preset("llama3-8b");
    o.type = synth::WeightType::parse("q4_k_m");
    o.vocab_path = shared_path("tokenizers/llama3/tokenizer.json");
    path_ = ::testing::TempDir() + "/llama3-8b-q4_k_m-" + std::to_string(::getpid()) + ".gguf";
    synth::write_synth_model(o, path_);
  }
  static void TearDownTestSuite() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  static std::string path_;
};
std::string CudaLlama8B::path_;

TEST_F(CudaLlama8B, Audit8192Tokens) {
  GRETA_REQUIRE_CUDA();
  const std::string& path = path_;
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
}

TEST_F(CudaLlama8B, DecodeMatchesPrefillOver64Tokens) {
  GRETA_REQUIRE_CUDA();
  for (const std::string precision : {"exact", "fast"}) {
    auto backend = make_backend("cuda", 2, precision);
    LlamaModel model(gguf::GgufFile::open(path_), *backend);
    const tokenizer::Tokenizer tok(tokenizer::Vocab::from_gguf(model.file()));
    const auto prompt = tok.encode(read_file(shared_path("prompts/p6_long.txt")), true, true);
    audit::AuditOptions o;
    o.span = 64;
    const auto r = audit::run_audit(model, {{"p6_long", prompt}}, o);
    const auto& g = r.prompts[0].span;
    ASSERT_TRUE(g.ran);
    EXPECT_EQ(g.top1_agreement, 1.0) << precision;
    EXPECT_TRUE(g.passed) << precision;
    EXPECT_LE(g.max_rel, precision == "exact" ? 1e-3 : 1e-2) << precision;
    std::printf("span 64, 8B q4_k_m, %s: top-1 %.0f%%, max |dlogit| %.3g = %.3g of the logit range, mean KL %.3g\n",
                precision.c_str(), 100 * g.top1_agreement, g.max_abs, g.max_rel, g.mean_kl);
  }
}

}  // namespace
}  // namespace greta::test
