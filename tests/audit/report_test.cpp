// The audit report writers, on reports built by hand: an EXACT prompt, a MISMATCH prompt
// whose root cause is decode:wo_out@L1, and a DRIFT prompt.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "../test_support.h"
#include "audit/report.h"
#include "greta/error.h"

namespace greta::audit {
namespace {

using test::count_of;
using trace::Point;

constexpr Point kLayerPoints[] = {Point::x_in,   Point::attn_norm, Point::q,        Point::k,
                                  Point::v,      Point::q_rope,    Point::k_rope,   Point::attn_out,
                                  Point::wo_out, Point::x_after_attn, Point::ffn_norm, Point::gate,
                                  Point::up,     Point::ffn_act,   Point::mlp_out,  Point::x_out};

// Every stage of a 2-layer model, bit-equal and checked well within budget on both routes.
std::vector<StageResult> exact_stages() {
  std::vector<StageResult> stages;
  auto add = [&](int layer, Point p) {
    StageResult s;
    s.id = {layer, p};
    s.bit_equal = true;
    s.local_prefill = {true, 1e-7, 0.01};
    s.local_decode = {true, 1e-7, 0.02};
    stages.push_back(s);
  };
  for (int layer = 0; layer < 2; ++layer)
    for (Point p : kLayerPoints) add(layer, p);
  add(-1, Point::final_norm);
  add(-1, Point::logits);
  return stages;
}

StageResult& stage_at(PromptAudit& p, int layer, Point point) {
  for (auto& s : p.stages)
    if (s.id.layer == layer && s.id.point == point) return s;
  throw std::logic_error("no such stage");
}

// Marks every stage from (layer, point) on as differing, with error growing along the pipeline.
void differ_from(PromptAudit& p, int layer, Point point, double first_mae) {
  bool on = false;
  double mae = first_mae;
  for (auto& s : p.stages) {
    if (s.id.layer == layer && s.id.point == point) on = true;
    if (!on) continue;
    s.bit_equal = false;
    s.mae = mae;
    s.max_abs = mae * 8;
    s.rel_l2 = mae * 2;
    mae *= 1.5;
  }
}

PromptAudit exact_prompt() {
  PromptAudit p;
  p.id = "exact";
  p.n_tokens = 5;
  p.stages = exact_stages();
  p.prefill_last_top1 = p.decode0_top1 = 42;
  p.verdict = Verdict::Exact;
  return p;
}

PromptAudit mismatch_prompt() {
  PromptAudit p;
  p.id = "mismatch";
  p.n_tokens = 7;
  p.stages = exact_stages();
  differ_from(p, 1, Point::wo_out, 7.4e-4);
  stage_at(p, 1, Point::wo_out).local_decode = {true, 0.3, 312.5};
  p.first_mismatch = StageId{1, Point::wo_out};
  p.root_cause = RootCause{"decode", {1, Point::wo_out}, 312.5};
  p.prefill_last_top1 = 42;
  p.decode0_top1 = 96965;
  p.verdict = Verdict::Mismatch;
  return p;
}

PromptAudit drift_prompt() {
  PromptAudit p;
  p.id = "drift";
  p.n_tokens = 9;
  p.stages = exact_stages();
  differ_from(p, 0, Point::mlp_out, 1e-6);
  stage_at(p, 1, Point::x_out).rel_l2 = 3e-4;
  p.first_mismatch = StageId{1, Point::x_out};
  p.prefill_last_top1 = p.decode0_top1 = 7;
  p.verdict = Verdict::Drift;
  return p;
}

AuditReport base_report() {
  AuditReport r;
  r.model = "synth-tiny.gguf";
  r.backend = "cpu";
  r.contract = "f32 accumulation, q8 activations";
  r.route_config = "prefill=gemm decode=gemv";
  r.tolerance = 1e-4;
  return r;
}

AuditReport three_prompt_report() {
  AuditReport r = base_report();
  r.faults = {"decode:wo_out@1:transpose"};
  r.prompts = {exact_prompt(), mismatch_prompt(), drift_prompt()};
  r.verdict = Verdict::Mismatch;
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(AuditReport, MaxMaeIsTheLargestOverLayers) {
  PromptAudit p = exact_prompt();
  stage_at(p, 0, Point::wo_out).mae = 2e-3;
  stage_at(p, 1, Point::wo_out).mae = 5e-3;
  EXPECT_DOUBLE_EQ(p.max_mae(Point::wo_out), 5e-3);
  EXPECT_EQ(p.max_mae(Point::x_in), 0);
  stage_at(p, 1, Point::x_in).mae = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(p.max_mae(Point::x_in)));
}

TEST(AuditReport, VerdictNames) {
  EXPECT_STREQ(verdict_name(Verdict::Exact), "EXACT");
  EXPECT_STREQ(verdict_name(Verdict::Pass), "PASS");
  EXPECT_STREQ(verdict_name(Verdict::Drift), "DRIFT");
  EXPECT_STREQ(verdict_name(Verdict::Mismatch), "MISMATCH");
}

TEST(AuditReport, ExitCodes) {
  AuditReport r = base_report();
  r.prompts = {exact_prompt()};
  EXPECT_EQ(r.exit_code(), 0);

  r.prompts.back().verdict = Verdict::Pass;
  r.verdict = Verdict::Pass;
  EXPECT_EQ(r.exit_code(), 0);

  r.prompts = {exact_prompt(), drift_prompt()};
  r.verdict = Verdict::Drift;
  EXPECT_EQ(r.exit_code(), 1);
  r.allow_drift = true;
  EXPECT_EQ(r.exit_code(), 0);

  r.prompts.push_back(mismatch_prompt());
  r.verdict = Verdict::Mismatch;
  EXPECT_EQ(r.exit_code(), 1);

  AuditReport collapsed = base_report();
  collapsed.prompts = {exact_prompt()};
  collapsed.collapse = true;
  EXPECT_EQ(collapsed.exit_code(), 1);

  AuditReport gate = base_report();
  gate.prompts = {exact_prompt()};
  gate.prompts[0].span.ran = true;
  gate.prompts[0].span.passed = false;
  EXPECT_EQ(gate.exit_code(), 1);

  AuditReport repeat = base_report();
  repeat.prompts = {exact_prompt()};
  repeat.repeat = 3;
  repeat.repeat_identical = false;
  EXPECT_EQ(repeat.exit_code(), 1);
}

TEST(SummaryTable, HasTheExpectedCells) {
  const std::string table = summary_table(three_prompt_report());
  const auto lines = lines_of(table);
  ASSERT_GE(lines.size(), 5u);
  for (const char* h : {"prompt", "tokens", "routes", "x_in_mae", "attn_out_mae", "wo_out_mae", "x_after_attn_mae",
                        "mlp_out_mae", "x_out_mae", "logits_mae", "first_mismatch", "root_cause", "prefill_last_top1",
                        "decode0_top1", "collapse", "verdict"})
    EXPECT_NE(lines[0].find(std::string("| ") + h + " "), std::string::npos) << h;
  // Header, rule and the three prompt rows all line up.
  for (size_t i = 1; i < 5; ++i) EXPECT_EQ(lines[i].size(), lines[0].size()) << lines[i];

  const std::string& exact = lines[2];
  EXPECT_NE(exact.find("| exact "), std::string::npos);
  EXPECT_NE(exact.find("| 0 "), std::string::npos);
  EXPECT_NE(exact.find("| EXACT "), std::string::npos);
  EXPECT_NE(exact.find("| prefill=gemm decode=gemv "), std::string::npos);

  const std::string& mismatch = lines[3];
  EXPECT_NE(mismatch.find("| 7.40e-04 "), std::string::npos);  // wo_out_mae: the root-cause stage
  EXPECT_NE(mismatch.find("| wo_out@L1 "), std::string::npos);
  EXPECT_NE(mismatch.find("| decode:wo_out@L1 "), std::string::npos);
  EXPECT_NE(mismatch.find("| 96965 "), std::string::npos);
  EXPECT_NE(mismatch.find("| MISMATCH "), std::string::npos);

  const std::string& drift = lines[4];
  EXPECT_NE(drift.find("| x_out@L1 "), std::string::npos);
  EXPECT_NE(drift.find("| DRIFT "), std::string::npos);

  EXPECT_NE(table.find("verdict: MISMATCH"), std::string::npos);
  EXPECT_NE(table.find("faults injected: decode:wo_out@1:transpose"), std::string::npos);
  EXPECT_NE(table.find("collapse: none"), std::string::npos);
  EXPECT_NE(table.find("repeat: off"), std::string::npos);
}

TEST(SummaryTable, ReportsSpanGateAndRepeat) {
  AuditReport r = base_report();
  r.prompts = {exact_prompt()};
  SpanGate& g = r.prompts[0].span;
  g.ran = true;
  g.steps = 16;
  g.max_abs = 2.5e-3;
  g.p99_abs = 1e-3;
  g.top1_agreement = 0.9375;
  g.mean_kl = 3e-6;
  g.passed = false;
  r.repeat = 3;
  r.repeat_identical = false;
  r.repeat_detail = "run 2 differs at wo_out@L0";
  r.collapse = true;
  r.collapse_detail = "decode0 top-1 is 96965 for 3 prompts";
  const std::string table = summary_table(r);
  EXPECT_NE(table.find("span gate exact: 16 steps"), std::string::npos) << table;
  EXPECT_NE(table.find("93.8%"), std::string::npos);
  EXPECT_NE(table.find("FAIL"), std::string::npos);
  EXPECT_NE(table.find("repeat: 3 runs, FAIL: run 2 differs at wo_out@L0"), std::string::npos);
  EXPECT_NE(table.find("collapse: YES: decode0 top-1 is 96965 for 3 prompts"), std::string::npos);
}

TEST(ReportJson, ParsesWithTheRequiredKeys) {
  const auto j = nlohmann::json::parse(report_json(three_prompt_report()));
  for (const char* key : {"verdict", "prompts", "model", "backend", "contract", "routes", "faults", "tolerance",
                          "collapse", "repeat", "exit_code"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["verdict"], "MISMATCH");
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_EQ(j["routes"], "prefill=gemm decode=gemv");
  EXPECT_EQ(j["faults"][0], "decode:wo_out@1:transpose");
  EXPECT_EQ(j["repeat"]["n"], 1);
  EXPECT_EQ(j["repeat"]["identical"], true);
  ASSERT_EQ(j["prompts"].size(), 3u);

  const auto& exact = j["prompts"][0];
  EXPECT_EQ(exact["id"], "exact");
  EXPECT_EQ(exact["verdict"], "EXACT");
  EXPECT_TRUE(exact["first_mismatch"].is_null());
  EXPECT_TRUE(exact["root_cause"].is_null());
  EXPECT_TRUE(exact["span"].is_null());
  EXPECT_EQ(exact["n_tokens"], 5);
  EXPECT_EQ(exact["stages"].size(), 34u);

  const auto& mismatch = j["prompts"][1];
  EXPECT_EQ(mismatch["first_mismatch"]["layer"], 1);
  EXPECT_EQ(mismatch["first_mismatch"]["point"], "wo_out");
  EXPECT_EQ(mismatch["root_cause"]["route"], "decode");
  EXPECT_EQ(mismatch["root_cause"]["layer"], 1);
  EXPECT_EQ(mismatch["root_cause"]["point"], "wo_out");
  EXPECT_DOUBLE_EQ(mismatch["root_cause"]["ratio"].get<double>(), 312.5);
  EXPECT_EQ(mismatch["prefill_last_top1"], 42);
  EXPECT_EQ(mismatch["decode0_top1"], 96965);
  EXPECT_EQ(mismatch["collapse"], false);
  const auto& wo = mismatch["stages"][16 + 8];  // layer 1, wo_out
  EXPECT_EQ(wo["layer"], 1);
  EXPECT_EQ(wo["point"], "wo_out");
  EXPECT_DOUBLE_EQ(wo["mae"].get<double>(), 7.4e-4);
  EXPECT_EQ(wo["bit_equal"], false);
  EXPECT_DOUBLE_EQ(wo["local_decode"].get<double>(), 312.5);
  EXPECT_DOUBLE_EQ(wo["local_prefill"].get<double>(), 0.01);
  for (const char* key : {"layer", "point", "mae", "max_abs", "rel_l2", "bit_equal", "local_prefill", "local_decode"})
    EXPECT_TRUE(wo.contains(key)) << key;
}

TEST(ReportJson, NonFiniteNumbersStayValidJson) {
  AuditReport r = three_prompt_report();
  StageResult& s = stage_at(r.prompts[1], -1, Point::logits);
  s.mae = std::numeric_limits<double>::quiet_NaN();
  s.max_abs = std::numeric_limits<double>::infinity();
  s.local_prefill = {};  // not checked
  r.prompts[1].span.ran = true;
  r.prompts[1].span.mean_kl = -std::numeric_limits<double>::infinity();
  const auto j = nlohmann::json::parse(report_json(r));
  const auto& logits = j["prompts"][1]["stages"].back();
  EXPECT_EQ(logits["mae"], "NaN");
  EXPECT_EQ(logits["max_abs"], "Infinity");
  EXPECT_TRUE(logits["local_prefill"].is_null());
  EXPECT_EQ(j["prompts"][1]["span"]["mean_kl"], "-Infinity");
}

TEST(ReportMarkdown, HasHeaderSummaryAndStageDetail) {
  const std::string md = report_markdown(three_prompt_report());
  EXPECT_EQ(md.rfind("# greta audit\n", 0), 0u);
  EXPECT_NE(md.find("- model: synth-tiny.gguf"), std::string::npos);
  EXPECT_NE(md.find("- numeric contract: f32 accumulation, q8 activations"), std::string::npos);
  EXPECT_NE(md.find("- tolerance: 1.00e-04"), std::string::npos);
  EXPECT_NE(md.find("`decode:wo_out@1:transpose`"), std::string::npos);
  EXPECT_NE(md.find("| prompt | tokens | routes |"), std::string::npos);
  EXPECT_NE(md.find("## Prompt exact: EXACT"), std::string::npos);
  EXPECT_NE(md.find("bit-equal"), std::string::npos);
  EXPECT_NE(md.find("## Prompt mismatch: MISMATCH"), std::string::npos);
  EXPECT_NE(md.find("- root cause: `decode:wo_out@L1`"), std::string::npos);
  EXPECT_NE(md.find("on the decode route by 3.12e+02×"), std::string::npos);
  EXPECT_NE(md.find("| 1 | wo_out | 7.40e-04 |"), std::string::npos);
  EXPECT_EQ(count_of(md, "**3.12e+02** ✗"), 1u);
  EXPECT_NE(md.find("accumulated rounding"), std::string::npos);
  EXPECT_NE(md.find("growing most at"), std::string::npos);
  EXPECT_NE(md.find("- faults injected: decode:wo_out@1:transpose"), std::string::npos);
}

TEST(ReportMarkdown, EscapesPromptIds) {
  AuditReport r = base_report();
  r.prompts = {exact_prompt()};
  r.prompts[0].id = "a|b*c_ d_e";
  const std::string md = report_markdown(r);
  EXPECT_NE(md.find("a\\|b\\*c\\_ d_e"), std::string::npos);  // an underscore inside a word stays
  EXPECT_EQ(md.find("a|b*c"), std::string::npos);
}

TEST(ReportHtml, SelfContainedAndEscaped) {
  AuditReport r = three_prompt_report();
  r.prompts[0].id = "<b>&";
  r.model = "model \"quoted\"";
  const std::string html = report_html(r);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<b>&"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;&amp;"), std::string::npos);
  EXPECT_NE(html.find("model &quot;quoted&quot;"), std::string::npos);
  // One heatmap per error kind per prompt, the root cause outlined in the global map and
  // in the decode route's map, exact values on hover.
  EXPECT_EQ(count_of(html, "<table class=\"heat\">"), 9u);
  EXPECT_EQ(count_of(html, "class=\"c root\""), 2u);
  EXPECT_NE(html.find("title=\"wo_out@L1: local error 3.000000e-01 = 3.125000e+02× its rounding budget"),
            std::string::npos);
  EXPECT_NE(html.find("badge b-mismatch"), std::string::npos);
  EXPECT_NE(html.find("badge b-exact"), std::string::npos);
  EXPECT_NE(html.find("badge b-drift"), std::string::npos);
}

uint64_t fnv1a64_of(const std::vector<float>& values) {
  uint64_t h = 14695981039346656037ull;
  unsigned char bytes[4];
  for (float v : values) {
    std::memcpy(bytes, &v, 4);
    for (unsigned char b : bytes) {
      h ^= b;
      h *= 1099511628211ull;
    }
  }
  return h;
}

std::string hex16(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

TEST(TraceJsonl, OneRecordPerRowWithWholeRowStatistics) {
  TraceRow hidden{"p0", "decode0", {3, Point::wo_out}, 6, {}};
  for (int i = 0; i < 20; ++i) hidden.values.push_back(0.25f * static_cast<float>(i) - 1.0f);
  TraceRow logits{"p0", "prefill_last", {-1, Point::logits}, 6, {0.5f, 3.0f, -2.0f, 2.5f, 1.0f}};
  const std::string text = trace_jsonl({hidden, logits});
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 2u);

  const auto a = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(a["prompt_id"], "p0");
  EXPECT_EQ(a["phase"], "decode0");
  EXPECT_EQ(a["point"], "wo_out");
  EXPECT_EQ(a["layer"], 3);
  EXPECT_EQ(a["pos"], 6);
  EXPECT_EQ(a["n"], 20);
  EXPECT_EQ(a["hash"], hex16(fnv1a64_of(hidden.values)));
  EXPECT_DOUBLE_EQ(a["min"].get<double>(), -1.0);
  EXPECT_DOUBLE_EQ(a["max"].get<double>(), 3.75);  // the last value: statistics cover the whole row
  EXPECT_EQ(a["nan"], 0);
  EXPECT_EQ(a["inf"], 0);
  ASSERT_EQ(a["sample"].size(), 8u);
  EXPECT_DOUBLE_EQ(a["sample"][7].get<double>(), 0.75);
  EXPECT_FALSE(a.contains("top1"));
  const std::vector<std::string> order = {"prompt_id", "phase", "point", "layer", "pos", "n", "hash", "min",
                                          "max", "mean", "rms", "abs_max", "nan", "inf", "sample"};
  std::vector<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
  // nlohmann::json sorts keys, so compare as sets; the line itself keeps DESIGN §5's order.
  EXPECT_EQ(keys.size(), order.size());
  EXPECT_EQ(lines[0].find("{\"prompt_id\":\"p0\",\"phase\":\"decode0\",\"point\":\"wo_out\",\"layer\":3"), 0u);

  const auto b = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(b["hash"], hex16(fnv1a64_of(logits.values)));
  EXPECT_EQ(b["sample"].size(), 5u);
  EXPECT_EQ(b["top1"], 1);
  EXPECT_EQ(b["top2"], 3);
  EXPECT_DOUBLE_EQ(b["top1_logit"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(b["top2_logit"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(b["gap"].get<double>(), 0.5);
}

TEST(TraceJsonl, NonFiniteValuesStayValidJson) {
  TraceRow row{"p0", "decode0", {0, Point::q}, 1,
               {1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}};
  const auto j = nlohmann::json::parse(trace_jsonl({row}));
  EXPECT_EQ(j["nan"], 1);
  EXPECT_EQ(j["inf"], 1);
  EXPECT_EQ(j["sample"][1], "NaN");
  EXPECT_EQ(j["sample"][2], "Infinity");
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("greta_report_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(WriteReports, CreatesTheFourFiles) {
  TempDir tmp;
  const auto dir = tmp.path() / "nested" / "out";
  TraceRow row{"exact", "prefill_last", {0, Point::x_in}, 4, {1.0f, 2.0f}};
  write_reports(three_prompt_report(), {row, row}, dir.string());
  for (const char* name : {"trace.jsonl", "audit.md", "audit.json", "audit.html"}) {
    const auto file = dir / name;
    ASSERT_TRUE(std::filesystem::exists(file)) << name;
    EXPECT_GT(std::filesystem::file_size(file), 0u) << name;
  }
  std::ifstream trace(dir / "trace.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(trace, line)) ++n;
  EXPECT_EQ(n, 2);
}

TEST(WriteReports, UnwritableDirectoryNamesThePath) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.path());
  const auto blocker = tmp.path() / "a_file";
  std::ofstream(blocker) << "x";
  const std::string dir = (blocker / "reports").string();
  try {
    write_reports(three_prompt_report(), {}, dir);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace greta::audit
