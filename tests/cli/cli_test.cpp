// End-to-end tests of the `greta` command: outputs, exit codes and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.h"

namespace greta::test {
namespace {

const std::string kStories = "-m ../shared/models/stories260K.gguf";

TEST(Cli, BuiltInModelRunsWithoutAModelFile) {
  const auto r = run_greta("run -p \"Hello\" -n 8 --seed 3");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("built-in synthetic model"), std::string::npos);
  EXPECT_NE(r.err.find("decode:"), std::string::npos);
}

TEST(Cli, GreedyFromBosReproducesLlama2c) {
  const auto r = run_greta("run " + kStories + " -p \"\" -n 200 --temp 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(shared_path("reference/stories260K/llama2c_greedy_200.txt")));
}

// A prompt prefilled 3 tokens at a time generates the same text as one chunk.
TEST(Cli, ChunkedPrefillGeneratesTheSameText) {
  const std::string base = "run " + kStories + " --backend cpu -p \"Once upon a time, there was a little girl\" -n 24 --temp 0";
  const auto whole = run_greta(base), chunked = run_greta(base + " --chunk 3");
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  ASSERT_EQ(chunked.exit_code, 0) << chunked.err;
  EXPECT_EQ(chunked.out, whole.out);
}

TEST(Cli, SameSeedSameOutputDifferentSeedDifferentOutput) {
  const std::string base = "run " + kStories + " -p \"Once upon a time\" -n 40 --temp 1.0 --top-k 0 --top-p 1 --min-p 0 ";
  const auto a = run_greta(base + "--seed 7", "a"), b = run_greta(base + "--seed 7", "b"), c = run_greta(base + "--seed 8", "c");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST(Cli, StopsAfterNTokens) {
  const auto r = run_greta("run --ids 1,2,3 -m ../shared/models/synth-tiny-mix.gguf -n 5 --temp 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("generated: 5 tokens"), std::string::npos) << r.err;
}

TEST(Cli, CompareAgainstReferencePassesThresholds) {
  const auto r = run_greta("compare " + kStories +
                           " --ref ../shared/reference/stories260K/s3_long.json --json --max-abs-diff 1e-3 --min-top1 1 --require-greedy");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"positions", "max_abs_diff", "mean_kl", "max_kl", "top1_agreement", "top1_agreement_confident", "greedy_match"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_LE(j["max_abs_diff"].get<double>(), 1e-3);
  EXPECT_TRUE(j["greedy_match"].get<bool>());
}

TEST(Cli, CompareFailsWithExitOneWhenOverThreshold) {
  const auto r = run_greta("compare " + kStories + " --ref ../shared/reference/stories260K/s1_short.json --max-abs-diff 0");
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

TEST(Cli, LogitsFileMatchesReference) {
  const std::string out = unique_temp("logits.f32");
  const auto r = run_greta("logits " + kStories + " --ids 1,403,407,261,378 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ours = read_file(out), ref = read_file(shared_path("reference/stories260K/s1_short.logits.f32"));
  ASSERT_EQ(ours.size(), ref.size());
  const auto* a = reinterpret_cast<const float*>(ours.data());
  const auto* b = reinterpret_cast<const float*>(ref.data());
  double worst = 0;
  for (size_t i = 0; i < ours.size() / 4; ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  EXPECT_LE(worst, 1e-3);
}

TEST(Cli, PerplexityPrintsItsScoreAndProgress) {
  const auto r = run_greta("perplexity " + kStories + " -f ../shared/reference/stories260K/s3_long.txt --window 64 --backend cpu");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("perplexity: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("5 windows of 64 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the last 2 tokens not scored"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("window 5/5"), std::string::npos) << r.err;
}

TEST(Cli, PerplexityRefusesATextShorterThanAWindow) {
  const auto r = run_greta("perplexity " + kStories + " -p \"Once upon a time\" --window 64 --backend cpu");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("at least one window of 64 tokens"), std::string::npos) << r.err;
}

TEST(Cli, BenchPrintsLlamaBenchRows) {
  const auto r = run_greta("bench " + kStories + " -p 16 -n 8 -r 2 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pp16"), std::string::npos);
  EXPECT_NE(r.out.find("tg8"), std::string::npos);
  EXPECT_NE(r.out.find(" ± "), std::string::npos);
}

TEST(Cli, BenchAtDepthLabelsTheRows) {
  const auto r = run_greta("bench " + kStories + " -p 4 -n 4 -d 8 -r 1 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pp4 @ d8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg4 @ d8"), std::string::npos) << r.out;
}

TEST(Cli, InspectPrintsMetadataAndTensors) {
  const auto r = run_greta("inspect ../shared/models/synth-tiny-mix.gguf");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("llama.embedding_length"), std::string::npos);
  EXPECT_NE(r.out.find("blk.0.ffn_up.weight"), std::string::npos);
  EXPECT_NE(r.out.find("bf16"), std::string::npos);
}

TEST(Cli, TokenizePrintsIds) {
  const auto r = run_greta("tokenize " + kStories + " -p \"Once upon a time\" --ids");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[1, 403, 407, 261, 378]\n");
}

TEST(Cli, AuditCleanExitsZeroAndWritesReports) {
  const std::string dir = unique_temp("audit_clean");
  const auto r = run_greta("audit " + kStories + " --ref ../shared/reference/stories260K/s2_story.json --span 4 --repeat 2 --out " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("EXACT"), std::string::npos);
  for (const char* f : {"audit.md", "audit.json", "audit.html", "trace.jsonl"}) EXPECT_FALSE(read_file(dir + "/" + f).empty()) << f;
  const auto j = nlohmann::json::parse(read_file(dir + "/audit.json"));
  EXPECT_EQ(j["verdict"], "EXACT");
}

TEST(Cli, AuditNamesAnInjectedFaultAndExitsOne) {
  const std::string dir = unique_temp("audit_fault");
  const auto r = run_greta("audit " + kStories + " --ref ../shared/reference/stories260K/s2_story.json --inject decode:wo_out@2:transpose --out " + dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto j = nlohmann::json::parse(read_file(dir + "/audit.json"));
  const auto& rc = j["prompts"][0]["root_cause"];
  EXPECT_EQ(rc["route"], "decode");
  EXPECT_EQ(rc["point"], "wo_out");
  EXPECT_EQ(rc["layer"], 2);
}

TEST(Cli, RunWritesAStageTrace) {
  const std::string trace = unique_temp("trace.jsonl");
  const auto r = run_greta("run " + kStories + " -p \"Once\" -n 3 --temp 0 --trace-stage --trace-out " + trace +
                           " --trace-points x_in,wo_out,logits --trace-layers 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(trace);
  int lines = 0, prefill = 0, decode = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    const auto j = nlohmann::json::parse(line);
    prefill += j["phase"] == "prefill_last";
    decode += j["phase"] == "decode0";
    EXPECT_TRUE(j["layer"] == 1 || j["layer"] == -1);
    EXPECT_EQ(j["hash"].get<std::string>().size(), 16u);
  }
  EXPECT_EQ(prefill, 3);  // x_in, wo_out at layer 1, logits
  EXPECT_EQ(decode, 3);
}

// --trace-dump: each traced row as raw float32, named prompt.phase[.Llayer].point.f32, the
// row's length (stories260K: 64 wide, 512 logits) and finite.
TEST(Cli, TraceDumpWritesEachTracedRowAsRawFloats) {
  const std::string dir = unique_temp("trace_dump");
  const auto r = run_greta("run " + kStories + " -p \"Once\" -n 2 --temp 0 --trace-out " + unique_temp("dump.jsonl") +
                           " --trace-points x_in,logits --trace-layers 1 --trace-prompt-id p4 --trace-dump " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::pair<const char*, size_t> files[] = {{"p4.prefill_last.L1.x_in.f32", 64},
                                                  {"p4.decode0.L1.x_in.f32", 64},
                                                  {"p4.prefill_last.logits.f32", 512},
                                                  {"p4.decode0.logits.f32", 512}};
  for (const auto& [name, n] : files) {
    const std::string bytes = read_file(dir + "/" + name);
    ASSERT_EQ(bytes.size(), n * sizeof(float)) << name;
    std::vector<float> row(n);
    std::memcpy(row.data(), bytes.data(), bytes.size());
    for (float v : row) ASSERT_TRUE(std::isfinite(v)) << name;
  }
}

TEST(Cli, TraceEnvironmentVariablesAreHonoured) {
  const std::string trace = unique_temp("trace_env.jsonl");
  const auto r = run_greta("run " + kStories + " -p \"Once\" -n 2 --temp 0", "env_off");
  ASSERT_EQ(r.exit_code, 0);
  const std::string env = "GRETA_TRACE_STAGE=1 GRETA_TRACE_STAGE_OUT=" + trace + " GRETA_TRACE_STAGE_POINTS=logits GRETA_TRACE_PROMPT_ID=p9 ";
  const std::string cmd = "cd '" + std::string(GRETA_SOURCE_DIR) + "' && " + env + "'" + GRETA_BINARY + "' run " + kStories +
                          " -p Once -n 2 --temp 0 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto text = read_file(trace);
  EXPECT_NE(text.find("\"prompt_id\":\"p9\""), std::string::npos);
  EXPECT_NE(text.find("\"point\":\"logits\""), std::string::npos);
  EXPECT_EQ(text.find("\"point\":\"x_in\""), std::string::npos);
}

// Bad input: one clear message and exit code 2.
struct BadInput {
  std::string args, message;
};

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, ExitsTwoWithAMessage) {
  const auto r = run_greta(GetParam().args, "bad");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliBadInput,
    ::testing::Values(BadInput{"run --no-such-flag", "error"}, BadInput{"", "give a command"},
                      BadInput{"run -m /nonexistent.gguf", "/nonexistent.gguf"},
                      BadInput{"run -m ../shared/reference/stories260K/s1_short.json", "magic"},
                      BadInput{"run " + kStories + " -n abc", "error"},
                      BadInput{"run " + kStories + " -c 4 -p \"Once upon a time there was\"", "do not fit"},
                      BadInput{"run " + kStories + " --ids 1,x", "--ids"},
                      BadInput{"run " + kStories + " --ids 1,99999", "outside the vocabulary"},
                      BadInput{"run -m ../shared/models/synth-tiny-mix.gguf -p hello", "no vocabulary"},
                      BadInput{"run " + kStories + " --backend cuda", "--backend cpu"},
                      BadInput{"run " + kStories + " --backend cpu --precision fast", "CUDA setting"},
                      BadInput{"run " + kStories + " --precision half", "error"},
                      BadInput{"run " + kStories + " --chunk 0", "error"},
                      BadInput{"audit " + kStories + " --ids 1,2,3 --inject decode:wo_out@9:transpose", "out of range"},
                      BadInput{"audit " + kStories + " --ids 1,2,3 --inject decode:nothing:zero", "unknown stage point"},
                      BadInput{"audit " + kStories + " --ids 1,2,3 --inject sideways:wo_out:zero", "unknown route"},
                      BadInput{"audit " + kStories + " --ids 1,2,3 --layers 7", "out of range"},
                      BadInput{"audit " + kStories + " --ids 1,2,3 --points nope", "unknown stage point"},
                      BadInput{"audit " + kStories + " --ids 1,2,3 --route prefill=fast", "--route"},
                      BadInput{"run " + kStories + " --trace-points nope", "unknown stage point"},
                      BadInput{"compare " + kStories + " --ref ../shared/reference/synth/synth-tiny-mix.ids48.json", "n_vocab"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace greta::test
