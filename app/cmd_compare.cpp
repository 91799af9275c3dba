// greta compare: greta's logits and greedy continuation against a reference engine's.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "app/command.h"
#include "app/model_options.h"
#include "audit/reference.h"
#include "sampling/sampler.h"
#include "model/session.h"

namespace greta::app {
namespace {

struct CompareOptions {
  ModelOptions model;
  std::string ref;
  bool json = false;
  double max_abs_diff = -1, max_kl = -1, min_top1 = -1;
  bool require_greedy = false;
};

std::vector<int32_t> greedy(Session& s, std::vector<float> logits, size_t n) {
  std::vector<int32_t> out;
  while (out.size() < n) {
    out.push_back(sampling::argmax(logits));
    if (out.size() < n) logits = s.decode(out.back());
  }
  return out;
}

int run(const CompareOptions& o) {
  auto m = load_model(o.model);
  const auto ref = Reference::load(o.ref);
  if (ref.n_vocab != m.model->config().n_vocab)
    throw InputError(o.ref + ": n_vocab " + std::to_string(ref.n_vocab) + " does not match the model's " +
                     std::to_string(m.model->config().n_vocab));
  const int64_t n_ctx = std::max<int64_t>(o.model.ctx, ref.positions() + static_cast<int64_t>(ref.greedy_tokens.size()) + 1);
  Session session(*m.model, n_ctx);
  const auto logits = session.prefill(ref.prompt_tokens, LogitsRows::All);
  const auto c = compare_logits(ref.logits, logits, ref.n_vocab);
  const int64_t V = ref.n_vocab;
  std::vector<float> last(logits.end() - V, logits.end());
  const auto cont = greedy(session, last, ref.greedy_tokens.size());
  const bool greedy_match = cont == ref.greedy_tokens;
  std::optional<LogitsComparison> exact;
  if (!ref.exact_logits.empty()) exact = compare_logits(ref.exact_logits, logits, V);

  if (o.json) {
    nlohmann::ordered_json j;
    j["positions"] = ref.positions();
    j["max_abs_diff"] = c.max_abs_diff;
    j["mean_kl"] = c.mean_kl;
    j["max_kl"] = c.max_kl;
    j["top1_agreement"] = c.top1_agreement;
    j["top1_agreement_confident"] = c.top1_agreement_confident;
    j["greedy_match"] = greedy_match;
    if (exact) j["exact_max_abs_diff"] = exact->max_abs_diff;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("reference: %s (%s)\n", o.ref.c_str(), ref.model.c_str());
    std::printf("%5s %12s %12s %8s %8s %8s\n", "pos", "max|dlogit|", "KL(ref|us)", "ref_top1", "our_top1", "ref_gap");
    for (size_t t = 0; t < c.per_position.size(); ++t) {
      const auto& p = c.per_position[t];
      std::printf("%5zu %12.3e %12.3e %8d %8d %8.3f%s\n", t, p.max_abs_diff, p.kl, p.ref_top1, p.our_top1, p.ref_gap,
                  p.ref_top1 != p.our_top1 ? "  <- top-1 differs" : "");
    }
    std::printf("\npositions:                 %lld\n", static_cast<long long>(ref.positions()));
    std::printf("max |dlogit|:              %.3e\n", c.max_abs_diff);
    std::printf("KL(ref|greta) mean / max:  %.3e / %.3e\n", c.mean_kl, c.max_kl);
    std::printf("top-1 agreement:           %.4f (all), %.4f (%lld positions with gap >= 0.1)\n", c.top1_agreement,
                c.top1_agreement_confident, static_cast<long long>(c.confident_positions));
    std::printf("greedy continuation (%zu):  %s\n", ref.greedy_tokens.size(), greedy_match ? "identical" : "differs");
    if (exact) std::printf("vs float64 forward:        max |dlogit| %.3e, mean KL %.3e\n", exact->max_abs_diff, exact->mean_kl);
  }
  bool fail = false;
  auto check = [&](bool bad, const char* what) {
    if (bad) {
      std::fprintf(stderr, "compare: FAILED: %s\n", what);
      fail = true;
    }
  };
  check(o.max_abs_diff >= 0 && c.max_abs_diff > o.max_abs_diff, "max |dlogit| over --max-abs-diff");
  check(o.max_kl >= 0 && c.max_kl > o.max_kl, "max KL over --max-kl");
  check(o.min_top1 >= 0 && c.top1_agreement_confident < o.min_top1, "confident top-1 agreement under --min-top1");
  check(o.require_greedy && !greedy_match, "greedy continuation differs (--require-greedy)");
  return fail ? 1 : 0;
}

}  // namespace

void register_compare(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  auto* cmd = app.add_subcommand("compare", "compare logits and greedy continuation with a reference (JSON + .f32)");
  add_model_options(*cmd, o->model);
  cmd->add_option("--ref", o->ref, "reference JSON (see ../shared/README.md for the format)")->required();
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->add_option("--max-abs-diff", o->max_abs_diff, "fail (exit 1) when max |dlogit| is above this")->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-kl", o->max_kl, "fail when the max KL(ref|greta) is above this")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-top1", o->min_top1, "fail when confident top-1 agreement is below this fraction")->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--require-greedy", o->require_greedy, "fail when the greedy continuation differs");
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
