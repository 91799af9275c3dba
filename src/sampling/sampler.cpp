#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "greta/error.h"

namespace greta::sampling {
namespace {

// NaN would break the strict ordering that sorting needs; it ranks below everything.
float sanitize(float x) { return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x; }

}  // namespace

int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) return -1;
  int32_t best = 0;
  float best_v = sanitize(logits[0]);
  for (size_t i = 1; i < logits.size(); ++i) {
    const float v = sanitize(logits[i]);
    if (v > best_v) {  // strict: the lowest index keeps ties
      best_v = v;
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

Sampler::Sampler(SamplerParams params) : params_(params), rng_(params.seed) {
  auto bad = [](const std::string& what) { throw InputError("sampler: " + what); };
  if (std::isnan(params_.temperature)) bad("temperature is NaN");
  if (params_.top_k < 0) bad("top_k must be >= 0 (0 = off), got " + std::to_string(params_.top_k));
  if (!(params_.top_p > 0.0f && params_.top_p <= 1.0f))
    bad("top_p must be in (0, 1] (1 = off), got " + std::to_string(params_.top_p));
  if (!(params_.min_p >= 0.0f && params_.min_p <= 1.0f))
    bad("min_p must be in [0, 1] (0 = off), got " + std::to_string(params_.min_p));
  if (!(params_.repeat_penalty > 0.0f) || std::isinf(params_.repeat_penalty))
    bad("repeat_penalty must be a positive number (1 = off), got " + std::to_string(params_.repeat_penalty));
  if (params_.repeat_last_n < -1)
    bad("repeat_last_n must be >= -1 (-1 = all, 0 = off), got " + std::to_string(params_.repeat_last_n));
}

void Sampler::accept(int32_t token) {
  if (params_.repeat_last_n == 0) return;
  history_.push_back(token);
  // Trim in chunks so accept() stays amortised O(1) for long generations.
  const size_t window = static_cast<size_t>(params_.repeat_last_n);
  if (params_.repeat_last_n > 0 && history_.size() >= 2 * window + 64)
    history_.erase(history_.begin(), history_.end() - static_cast<std::ptrdiff_t>(window));
}

void Sampler::reset() {
  history_.clear();
  rng_.reseed(params_.seed);
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.empty()) throw InputError("sampler: empty logits row");
  vals_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) vals_[i] = sanitize(logits[i]);
  all_ = true;
  sorted_ = false;

  apply_repeat_penalty();
  block_maxima();
  row_max_ = *std::max_element(maxima_.begin(), maxima_.end());

  if (params_.temperature <= 0.0f) {  // greedy: the first of the largest (the lowest id keeps ties)
    const size_t b = static_cast<size_t>(std::find(maxima_.begin(), maxima_.end(), row_max_) - maxima_.begin());
    return static_cast<int32_t>(
        std::find(vals_.begin() + static_cast<std::ptrdiff_t>(b * kBlock), vals_.end(), row_max_) - vals_.begin());
  }

  keep_top_k();
  keep_top_p();
  keep_min_p();
  materialize();
  for (auto& c : cand_) c.logit /= params_.temperature;
  return draw();
}

// llama.cpp's rule: each distinct token among the last repeat_last_n accepted ones has
// its logit divided by the penalty when positive and multiplied by it otherwise, once,
// however often it occurred (frequency/presence penalties are separate knobs, not here).
void Sampler::apply_repeat_penalty() {
  if (params_.repeat_penalty == 1.0f || params_.repeat_last_n == 0 || history_.empty()) return;
  const size_t n = params_.repeat_last_n < 0 ? history_.size()
                                             : std::min(history_.size(), static_cast<size_t>(params_.repeat_last_n));
  std::vector<int32_t> seen(history_.end() - static_cast<std::ptrdiff_t>(n), history_.end());
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  for (int32_t t : seen) {
    if (t < 0 || static_cast<size_t>(t) >= vals_.size()) continue;
    float& l = vals_[static_cast<size_t>(t)];
    l = l <= 0.0f ? l * params_.repeat_penalty : l / params_.repeat_penalty;
  }
}

static bool ranks_before(const auto& a, const auto& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// A vocabulary row is ~10^5 values and a step's sampling sits between two GPU steps, so
// the best m are found without sorting the row: the m-th largest of the maxima of blocks
// of 64 values is a threshold that at least m values reach, so every one of the best m
// reaches it; only the values that reach it, in the blocks whose maximum does, are
// sorted. (A partial sort of all 128k candidates took ~0.24 ms a token with the default
// top-k of 40; now ~0.07 ms.)
void Sampler::select_top(size_t m) {
  float threshold = -std::numeric_limits<float>::infinity();  // more than there are blocks: all
  if (m <= maxima_.size()) {
    sel_ = maxima_;
    std::nth_element(sel_.begin(), sel_.begin() + static_cast<std::ptrdiff_t>(m - 1), sel_.end(), std::greater<float>());
    threshold = sel_[m - 1];
  }
  collect_reaching(threshold);
  std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(m), cand_.end(),
                    [](const Candidate& a, const Candidate& b) { return ranks_before(a, b); });
  cand_.resize(m);
  sorted_ = true;
}

void Sampler::collect_reaching(float threshold) {
  const size_t n = vals_.size();
  cand_.clear();
  for (size_t b = 0; b < maxima_.size(); ++b) {
    if (maxima_[b] < threshold) continue;  // nothing in the block reaches it
    for (size_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i)
      if (vals_[i] >= threshold) cand_.push_back({static_cast<int32_t>(i), vals_[i]});
  }
  all_ = false;
}

void Sampler::block_maxima() {
  const size_t n = vals_.size(), n_blocks = (n + kBlock - 1) / kBlock;
  maxima_.resize(n_blocks);
  const size_t full = n / kBlock;
  for (size_t b = 0; b < full; ++b) {
    // Eight running maxima: independent compare chains (and maxps where the compiler can).
    float mx[8];
    const float* v = vals_.data() + b * kBlock;
    for (int j = 0; j < 8; ++j) mx[j] = v[j];
    for (size_t i = 8; i < kBlock; i += 8)
      for (int j = 0; j < 8; ++j) mx[j] = mx[j] < v[i + j] ? v[i + j] : mx[j];
    float r = mx[0];
    for (int j = 1; j < 8; ++j) r = r < mx[j] ? mx[j] : r;
    maxima_[b] = r;
  }
  if (full < n_blocks)
    maxima_[full] = *std::max_element(vals_.begin() + static_cast<std::ptrdiff_t>(full * kBlock), vals_.end());
}

void Sampler::materialize() {
  if (!all_) return;
  cand_.resize(vals_.size());
  for (size_t i = 0; i < vals_.size(); ++i) cand_[i] = {static_cast<int32_t>(i), vals_[i]};
  all_ = false;
  sorted_ = false;
}

void Sampler::keep_top_k() {
  const size_t k = static_cast<size_t>(params_.top_k);
  if (k == 0 || k >= vals_.size()) return;
  select_top(k);
}

void Sampler::sort_candidates() {
  if (sorted_) return;
  std::sort(cand_.begin(), cand_.end(), [](const Candidate& a, const Candidate& b) { return ranks_before(a, b); });
  sorted_ = true;
}

// Cuts the sorted cand_ after the first prefix whose mass (of `total`, under the maximum
// max_l) reaches top_p; false if none does.
bool Sampler::cut_at_top_p(double max_l, double total) {
  double cum = 0.0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    cum += std::exp(static_cast<double>(cand_[i].logit) - max_l) / total;
    if (cum >= params_.top_p) {
      cand_.resize(i + 1);
      return true;
    }
  }
  return false;
}

// Keeps the smallest prefix (by probability, at temperature 1) whose mass reaches top_p,
// and always at least one token.
void Sampler::keep_top_p() {
  if (params_.top_p >= 1.0f || n_candidates() <= 1) return;
  if (all_) {
    // Every id still in: the mass in id order, then the best 64, 256, ... until their
    // prefix reaches top_p (the same prefix a full sort gives).
    const double max_l = row_max_;
    if (std::isinf(max_l) && max_l < 0) return;  // nothing finite to weigh
    double total = 0.0;
    for (float v : vals_) total += std::exp(static_cast<double>(v) - max_l);
    for (size_t m = std::min<size_t>(64, vals_.size());; m = std::min(4 * m, vals_.size())) {
      select_top(m);
      // At m = every id without reaching top_p (rounding): every token, sorted.
      if (cut_at_top_p(max_l, total) || m == vals_.size()) return;
    }
  }
  sort_candidates();
  const double max_l = cand_[0].logit;
  if (std::isinf(max_l) && max_l < 0) return;  // nothing finite to weigh
  double total = 0.0;
  for (const auto& c : cand_) total += std::exp(static_cast<double>(c.logit) - max_l);
  cut_at_top_p(max_l, total);
}

// Keeps tokens whose probability is at least min_p times the top token's:
// logit >= max_logit + log(min_p).
void Sampler::keep_min_p() {
  if (params_.min_p <= 0.0f || n_candidates() <= 1) return;
  if (all_) {  // straight from the row, in id order
    collect_reaching(row_max_ + std::log(params_.min_p));
    return;
  }
  float max_l = cand_[0].logit;
  for (const auto& c : cand_) max_l = std::max(max_l, c.logit);
  const float threshold = max_l + std::log(params_.min_p);
  std::erase_if(cand_, [&](const Candidate& c) { return c.logit < threshold; });
}

// Inverse-CDF draw over the softmax of the remaining candidates, in double, from our own
// uniform — never std::discrete_distribution (its algorithm is library-specific).
int32_t Sampler::draw() {
  double max_l = -std::numeric_limits<double>::infinity();
  for (const auto& c : cand_) max_l = std::max(max_l, static_cast<double>(c.logit));
  const double u = rng_.uniform();  // consume one draw even in degenerate cases: keeps sequences aligned
  if (std::isinf(max_l)) {
    // All candidates are -inf (or +inf): pick the best-ranked, lowest id first.
    const Candidate* best = &cand_[0];
    for (const auto& c : cand_)
      if (ranks_before(c, *best)) best = &c;
    return best->id;
  }
  double total = 0.0;
  for (const auto& c : cand_) total += std::exp(static_cast<double>(c.logit) - max_l);
  const double target = u * total;
  double cum = 0.0;
  for (const auto& c : cand_) {
    cum += std::exp(static_cast<double>(c.logit) - max_l);
    if (target < cum) return c.id;
  }
  // Rounding left target at the very top: the last candidate with non-zero weight.
  for (auto it = cand_.rbegin(); it != cand_.rend(); ++it)
    if (std::exp(static_cast<double>(it->logit) - max_l) > 0.0) return it->id;
  return cand_.back().id;
}

}  // namespace greta::sampling
