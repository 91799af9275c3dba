#include "audit/reference.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "greta/error.h"

namespace greta {
namespace {

std::vector<float> read_f32(const std::string& path, int64_t expected) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open");
  in.seekg(0, std::ios::end);
  const auto size = static_cast<int64_t>(in.tellg());
  if (size != expected * 4)
    throw InputError(path + ": holds " + std::to_string(size) + " bytes, expected " + std::to_string(expected * 4));
  in.seekg(0);
  std::vector<float> v(static_cast<size_t>(expected));
  in.read(reinterpret_cast<char*>(v.data()), size);
  return v;
}

void softmax64(const float* x, int64_t n, std::vector<double>& p) {
  p.resize(n);
  const double mx = *std::max_element(x, x + n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (p[i] = std::exp(double(x[i]) - mx));
  for (auto& v : p) v /= s;
}

}  // namespace

Reference Reference::load(const std::string& json_path) {
  std::ifstream in(json_path);
  if (!in) throw InputError(json_path + ": cannot open");
  Reference r;
  r.path = json_path;
  try {
    const auto j = nlohmann::json::parse(in);
    r.model = j.value("model", "");
    r.prompt = j.value("prompt", "");
    r.add_bos = j.value("add_bos", true);
    r.n_vocab = j.at("n_vocab").get<int64_t>();
    r.prompt_tokens = j.at("prompt_tokens").get<std::vector<int32_t>>();
    r.greedy_tokens = j.value("greedy_tokens", std::vector<int32_t>{});
    r.greedy_text = j.value("greedy_text", "");
    const auto dir = std::filesystem::path(json_path).parent_path();
    if (r.n_vocab <= 0 || r.prompt_tokens.empty()) throw InputError(json_path + ": n_vocab and prompt_tokens must be non-empty");
    const int64_t n = r.positions() * r.n_vocab;
    r.logits = read_f32((dir / j.at("logits_file").get<std::string>()).string(), n);
    if (j.contains("exact_logits_file")) r.exact_logits = read_f32((dir / j["exact_logits_file"].get<std::string>()).string(), n);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(json_path + ": " + e.what());
  }
  return r;
}

double kl_divergence(const float* ref, const float* ours, int64_t n) {
  std::vector<double> p, q;
  softmax64(ref, n, p);
  softmax64(ours, n, q);
  double kl = 0;
  for (int64_t i = 0; i < n; ++i)
    if (p[i] > 0) kl += p[i] * (std::log(p[i]) - std::log(std::max(q[i], 1e-300)));
  return std::max(kl, 0.0);
}

LogitsComparison compare_logits(const std::vector<float>& ref, const std::vector<float>& ours, int64_t n_vocab,
                                double confident_gap) {
  LogitsComparison c;
  const int64_t positions = static_cast<int64_t>(ref.size()) / n_vocab;
  int64_t agree = 0, agree_conf = 0;
  for (int64_t t = 0; t < positions; ++t) {
    const float* r = ref.data() + t * n_vocab;
    const float* o = ours.data() + t * n_vocab;
    PositionDiff d;
    for (int64_t i = 0; i < n_vocab; ++i) d.max_abs_diff = std::max(d.max_abs_diff, std::fabs(double(r[i]) - o[i]));
    d.kl = kl_divergence(r, o, n_vocab);
    d.ref_top1 = static_cast<int32_t>(std::max_element(r, r + n_vocab) - r);
    d.our_top1 = static_cast<int32_t>(std::max_element(o, o + n_vocab) - o);
    double second = -INFINITY;
    for (int64_t i = 0; i < n_vocab; ++i)
      if (i != d.ref_top1) second = std::max(second, double(r[i]));
    d.ref_gap = r[d.ref_top1] - second;
    agree += d.ref_top1 == d.our_top1;
    if (d.ref_gap >= confident_gap) {
      ++c.confident_positions;
      agree_conf += d.ref_top1 == d.our_top1;
    }
    c.max_abs_diff = std::max(c.max_abs_diff, d.max_abs_diff);
    c.max_kl = std::max(c.max_kl, d.kl);
    c.mean_kl += d.kl;
    c.per_position.push_back(d);
  }
  if (positions > 0) {
    c.mean_kl /= positions;
    c.top1_agreement = double(agree) / positions;
  }
  c.top1_agreement_confident = c.confident_positions ? double(agree_conf) / c.confident_positions : 1.0;
  return c;
}

}  // namespace greta
