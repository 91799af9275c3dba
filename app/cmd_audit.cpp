// greta audit: the prefill/decode equivalence audit (DESIGN §6).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "app/command.h"
#include "app/model_options.h"
#include "app/prompt_input.h"
#include "audit/audit.h"
#include "audit/reference.h"
#include "audit/report.h"
#include "trace/trace_config.h"

namespace greta::app {
namespace {

struct AuditCommandOptions {
  ModelOptions model;
  std::string text, prompts_dir, ids, out, layers, points, ref_backend;
  double cross_tolerance = -1;  // < 0: the default for the backend's precision
  std::vector<std::string> files, refs, routes, injects;
  int span = 0, repeat = 1;
  double tolerance = -1;
  bool allow_drift = false, no_bos = false, no_special = false;
};

std::vector<int32_t> encode(const LoadedModel& m, const std::string& text, const AuditCommandOptions& o, const std::string& what) {
  if (!m.tokenizer) throw InputError(what + ": this model has no vocabulary: give prompts with --ids or --ref");
  const auto& tok = *m.tokenizer;
  auto ids = tok.encode(text, false, !o.no_special);
  // The audit prompts carry their own <|begin_of_text|>; add BOS only where it is missing.
  if (!o.no_bos && tok.add_bos() && tok.bos() >= 0 && (ids.empty() || ids.front() != tok.bos())) ids.insert(ids.begin(), tok.bos());
  if (ids.empty()) throw InputError(what + ": the prompt gives no tokens");
  return ids;
}

std::vector<audit::AuditPrompt> collect_prompts(const AuditCommandOptions& o, const LoadedModel& m) {
  std::vector<audit::AuditPrompt> p;
  auto stem = [](const std::string& path) { return std::filesystem::path(path).stem().string(); };
  if (!o.text.empty()) p.push_back({"prompt", encode(m, o.text, o, "-p")});
  std::vector<std::string> files = o.files;
  if (!o.prompts_dir.empty()) {
    std::error_code ec;
    std::vector<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator(o.prompts_dir, ec))
      if (e.is_regular_file() && e.path().extension() == ".txt") found.push_back(e.path().string());
    if (ec) throw InputError(o.prompts_dir + ": cannot read the directory: " + ec.message());
    if (found.empty()) throw InputError(o.prompts_dir + ": no .txt prompts in it");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  for (const auto& f : files) p.push_back({stem(f), encode(m, read_text_file(f), o, f)});
  if (!o.ids.empty()) p.push_back({"ids", parse_ids(o.ids)});
  for (const auto& r : o.refs) p.push_back({stem(r), Reference::load(r).prompt_tokens});
  if (p.empty()) throw InputError("give prompts: -p TEXT, -f FILE..., --prompts DIR, --ids 1,2,3 or --ref REF.json");
  return p;
}

RouteConfig parse_routes(const std::vector<std::string>& specs) {
  RouteConfig r;
  for (const auto& s : specs) {
    const auto eq = s.find('=');
    const std::string path = s.substr(0, eq), kernel = eq == std::string::npos ? "" : s.substr(eq + 1);
    if ((path != "prefill" && path != "decode") || (kernel != "gemm" && kernel != "gemv"))
      throw InputError("--route '" + s + "': expected prefill=gemm|gemv or decode=gemm|gemv");
    (path == "prefill" ? r.prefill : r.decode) = kernel == "gemm" ? Route::Gemm : Route::Gemv;
  }
  return r;
}

int run(const AuditCommandOptions& o) {
  auto m = load_model(o.model);
  audit::AuditOptions ao;
  const int n_layers = static_cast<int>(m.model->config().n_layers);
  ao.layers = trace::TraceConfig::parse_layers(o.layers, "--layers");
  ao.points = trace::TraceConfig::parse_points(o.points, "--points");
  ao.routes = parse_routes(o.routes);
  for (const auto& spec : o.injects) ao.faults.faults.push_back(parse_fault(spec, n_layers));
  ao.span = o.span;
  ao.repeat = o.repeat;
  ao.tolerance = o.tolerance;
  ao.allow_drift = o.allow_drift;
  const auto prompts = collect_prompts(o, m);
  LoadedModel reference;
  if (!o.ref_backend.empty()) {
    ModelOptions ro = o.model;
    ro.backend = o.ref_backend;
    ro.precision = "exact";  // the reference runs the f32 contract
    reference = load_model(ro);
    ao.reference = reference.model.get();
    ao.cross_tolerance = o.cross_tolerance;
  }
  for (const auto& p : prompts)
    if (static_cast<int64_t>(p.tokens.size()) + o.span + 1 > m.model->config().n_ctx_train && o.model.ctx == 0)
      throw InputError("prompt " + p.id + " (" + std::to_string(p.tokens.size()) + " tokens) plus --span does not fit the model's context of " +
                       std::to_string(m.model->config().n_ctx_train));
  std::vector<audit::TraceRow> rows;
  const auto report = audit::run_audit(*m.model, prompts, ao, o.out.empty() ? nullptr : &rows);
  const std::string table = audit::summary_table(report);
  std::fputs(table.c_str(), stdout);
  if (!table.empty() && table.back() != '\n') std::fputc('\n', stdout);
  if (!o.out.empty()) {
    audit::write_reports(report, rows, o.out);
    std::fprintf(stderr, "reports: %s/{audit.md,audit.json,audit.html,trace.jsonl}\n", o.out.c_str());
  }
  std::fprintf(stderr, "audit: %zu prompt(s) in %.2f s\n", prompts.size(), report.seconds);
  return report.exit_code();
}

}  // namespace

void register_audit(CLI::App& app) {
  auto o = std::make_shared<AuditCommandOptions>();
  auto* cmd = app.add_subcommand("audit", "prove that decode computes what prefill computes; localize where it does not");
  add_model_options(*cmd, o->model);
  cmd->add_option("-p,--prompt", o->text, "one prompt text");
  cmd->add_option("-f,--file", o->files, "prompt files (repeatable; special tokens in them are parsed)")->check(CLI::ExistingFile);
  cmd->add_option("--prompts", o->prompts_dir, "a directory of .txt prompts");
  cmd->add_option("--ids", o->ids, "one prompt as comma-separated token ids");
  cmd->add_option("--ref", o->refs, "reference JSON files whose prompt_tokens to audit (repeatable)");
  cmd->add_option("--layers", o->layers, "layers to report: all, 0,3 or 0-7");
  cmd->add_option("--points", o->points, "stage points to report, e.g. attn_out,wo_out");
  cmd->add_option("--route", o->routes, "force a route: prefill=gemv or decode=gemm (repeatable)");
  cmd->add_option("--inject", o->injects, "inject a fault ROUTE:POINT[@LAYER]:KIND[=ARG] (repeatable; see docs/audit.md)");
  cmd->add_option("--span", o->span, "logits span gate over N decode steps (0 = off)")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--repeat", o->repeat, "run N times; traces and tokens must be bit-identical")->check(CLI::Range(1, 1000));
  cmd->add_option("--tol", o->tolerance,
                  "global relative-L2 tolerance per stage (default: 1e-4 for f32 routes, 64u for routes rounding operands "
                  "with unit u, e.g. 3.1e-2 for f16 tensor cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ref-backend", o->ref_backend, "also compare every stage with this backend (e.g. cpu), run clean")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--cross-tol", o->cross_tolerance,
                  "relative-L2 tolerance per stage between backends (default: 1e-3, or 64u as for --tol)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--allow-drift", o->allow_drift, "exit 0 on DRIFT (accumulated rounding, no op over budget)");
  cmd->add_flag("--no-bos", o->no_bos, "do not add BOS to text prompts");
  cmd->add_flag("--no-special", o->no_special, "do not parse special tokens in text prompts");
  cmd->add_option("--out", o->out, "write audit.md, audit.json, audit.html and trace.jsonl here");
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
