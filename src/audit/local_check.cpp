#include "audit/local_check.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "quant/quant.h"

namespace greta::audit {
namespace {

using trace::Point;

constexpr double kUnit = 0x1.0p-24;  // f32 unit roundoff
constexpr double kTiny = 1e-30;      // keeps budgets of exact zeros positive
// Absolute error of rounding a value to a reduced format near zero: half the spacing of
// f16 subnormals (2^-24), the floor under the relative operand unit.
constexpr double kF16SubnormalHalfUlp = 0x1.0p-25;

double gamma(double k, double unit = kUnit) { return k * unit / (1.0 - k * unit); }

// ratio = max_i |y_i − y64_i| / budget_i
LocalCheck compare(const std::vector<float>& y, const std::vector<double>& y64, const std::vector<double>& budget) {
  LocalCheck c;
  c.checked = true;
  for (size_t i = 0; i < y.size(); ++i) {
    const double e = std::fabs(double(y[i]) - y64[i]);
    const double r = std::isfinite(e) ? e / (budget[i] + kTiny) : INFINITY;
    c.max_error = std::max(c.max_error, e);
    c.ratio = std::max(c.ratio, r);
  }
  return c;
}

// Elementwise ops: budget = rel · |y64|.
LocalCheck compare_relative(const std::vector<float>& y, const std::vector<double>& y64, double rel) {
  std::vector<double> b(y64.size());
  for (size_t i = 0; i < b.size(); ++i) b[i] = rel * std::fabs(y64[i]);
  return compare(y, y64, b);
}

}  // namespace

CacheSnapshot snapshot_cache(const LlamaModel& model, const KvCache& cache, int32_t position) {
  CacheSnapshot s;
  const int64_t rows = position + 1, cols = cache.kv_dim;
  for (size_t l = 0; l < cache.k.size(); ++l) {
    s.k.emplace_back(rows * cols);
    s.v.emplace_back(rows * cols);
    model.backend().read_cache(cache, static_cast<int>(l), rows, s.k.back().data(), s.v.back().data());
  }
  return s;
}

LocalChecker::LocalChecker(const LlamaModel& model) : model_(model) {
  const auto& w = model.weights();
  freqs_ = rope_frequencies(model.config(), w.rope_freq_factors.empty() ? nullptr : w.rope_freq_factors.data());
}

LocalCheck check_matmul(const Weight& w, const std::vector<float>& x, const std::vector<float>& y,
                        const RoutePrecision& pr) {
  // y_r = Σ_k ŵ_rk x̂_k over the operands the kernel multiplied, f32 accumulation in any
  // order: |y − Σ ŵ x̂| ≤ γ_{K+1} Σ|ŵ x̂| (+ the final rounding), and Σ|ŵ x̂| ≤ Σ|w x| + E,
  // E ≥ Σ|ŵ x̂ − w x| the operand error; so the budget is γ Σ|w x| + (1 + γ) E.
  // Operands rounded with unit v (tensor cores): E = (2v + v²) Σ|w x| + η Σ(|w| + |x|)(1 + v)
  // + K η² (η: half an f16 subnormal step). Weights rounded from their rounded scale terms
  // add (1 + v)(v + u) T_k per weight (u: this f32 copy of the weight is itself rounded),
  // times |x̂_k| ≤ (1 + v)|x_k| + η.
  // Rows are independent, so they are spread over the machine's threads (an 8B model has
  // 8 billion weights to recompute per recorded row).
  std::vector<double> y64(w.rows), budget(w.rows);
  const auto* base = static_cast<const uint8_t*>(w.host);
  const double v = pr.matmul_operand_unit, eta = v > 0 ? kF16SubnormalHalfUlp : 0.0;
  const double g = gamma(static_cast<double>(w.cols) + 1, pr.accumulation_unit);
  const bool from_terms = pr.matmul_weight_from_terms;
  const double t_unit = (1 + v) * (v + kUnit);
  double x_abs = 0;
  for (float val : x) x_abs += std::fabs(double(val));
  auto rows = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(w.cols);
    std::vector<double> t(from_terms ? w.cols : 0);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* src = base + r * w.row_bytes();
      quant::dequantize_row(w.type, src, row.data(), w.cols);
      if (from_terms) quant::weight_rounding_terms(w.type, src, t.data(), w.cols);
      double s = 0, a = 0, w_abs = 0, tx = 0;
      for (int64_t k = 0; k < w.cols; ++k) {
        const double p = double(row[k]) * x[k];
        s += p;
        a += std::fabs(p);
        w_abs += std::fabs(double(row[k]));
        if (from_terms) tx += t[k] * ((1 + v) * std::fabs(double(x[k])) + eta);
      }
      y64[r] = s;
      const double e = (2 * v + v * v) * a + eta * (w_abs + x_abs) * (1 + v) + double(w.cols) * eta * eta + t_unit * tx;
      budget[r] = g * a + (1 + g) * e;
    }
  };
  const int64_t threads = w.rows * w.cols < (int64_t{1} << 20) ? 1 : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int64_t th = 1; th < threads; ++th) pool.emplace_back(rows, w.rows * th / threads, w.rows * (th + 1) / threads);
  rows(0, w.rows / threads);
  for (auto& th : pool) th.join();
  return compare(y, y64, budget);
}

LocalCheck LocalChecker::rmsnorm(const Weight& gw, const std::vector<float>& x, const std::vector<float>& y) const {
  // Sum of squares in f64; then ≈ 6 f32 roundings (mean, +eps, sqrt, 1/·, x·s, ·g): 8u |y| covers them.
  const auto* g = static_cast<const float*>(gw.host);
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  const double s = 1.0 / std::sqrt(ss / x.size() + double(model_.config().rms_eps));
  std::vector<double> y64(x.size());
  for (size_t i = 0; i < x.size(); ++i) y64[i] = x[i] * s * g[i];
  return compare_relative(y, y64, 8 * kUnit);
}

LocalCheck LocalChecker::rope(const std::vector<float>& x, const std::vector<float>& y, int32_t pos) const {
  // Exact angles; the kernel's f32 cos/sin and two products and a sum: 4u (|a| + |b|).
  const auto& c = model_.config();
  std::vector<double> y64(x.begin(), x.end()), budget(x.size(), 0.0);
  for (size_t h = 0; h < x.size() / c.head_dim; ++h)
    for (int64_t i = 0; i < c.rope_dim / 2; ++i) {
      const size_t j = h * c.head_dim + 2 * i;
      const double ang = double(pos) * double(freqs_[i]);
      const double a = x[j], b = x[j + 1];
      y64[j] = a * std::cos(ang) - b * std::sin(ang);
      y64[j + 1] = a * std::sin(ang) + b * std::cos(ang);
      budget[j] = budget[j + 1] = 4 * kUnit * (std::fabs(a) + std::fabs(b));
    }
  return compare(y, y64, budget);
}

LocalCheck LocalChecker::attention(const std::vector<float>& q, const CacheSnapshot& cache, int layer, int32_t pos,
                                   const std::vector<float>& y, const RoutePrecision& pr) const {
  // Scores carry |δs_j| ≤ γ_d Σ|q k_j|/√d + u|s_j|; softmax turns a score error Δ into a
  // relative probability error ≤ e^{2Δ} − 1, plus (n+4)u of its own rounding; the weighted
  // sum adds γ_n. Budget_d = 1.25 (γ_n + ε_p + 2u) Σ_j p_j |v_jd|.
  // With q rounded at unit v (f16 operands), the scores gain (v + η-terms) Σ|q k_j|/√d;
  // each probability rounded at unit w for p·v adds w to ε_p, plus η Σ_j |v_jd| / Σ_j p_j
  // for probabilities rounded near zero; the adds use the route's accumulation unit. Such
  // kernels also scale scores by log2(e) and use the hardware exp2 (relative error below
  // 2^-22): two more roundings of s_j and 4u per probability.
  const double ua = pr.attention_operand_unit, eta = ua > 0 ? kF16SubnormalHalfUlp : 0.0;
  const double s_unit = ua > 0 ? 4 * kUnit : 2 * kUnit,
               p_extra = ua > 0 ? pr.attention_probability_unit + 4 * kUnit : 0.0;
  const double acc_unit = std::max(kUnit, pr.accumulation_unit);
  const auto& c = model_.config();
  const int64_t d = c.head_dim, n = pos + 1, kvd = c.kv_dim(), group = c.n_heads / c.n_kv_heads;
  const auto& K = cache.k[layer];
  const auto& V = cache.v[layer];
  const double scale = 1.0 / std::sqrt(double(d));
  std::vector<double> y64(y.size()), budget(y.size());
  std::vector<double> s(n), p(n);
  for (int64_t h = 0; h < c.n_heads; ++h) {
    const float* qh = q.data() + h * d;
    const int64_t kvh = h / group;
    double mx = -INFINITY, delta = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float* k = K.data() + j * kvd + kvh * d;
      double dot = 0, a = 0, k_abs = 0;
      for (int64_t i = 0; i < d; ++i) {
        dot += double(qh[i]) * k[i];
        a += std::fabs(double(qh[i]) * k[i]);
        k_abs += std::fabs(double(k[i]));
      }
      s[j] = dot * scale;
      delta = std::max(delta, (gamma(double(d) + 1, acc_unit) + ua * (1 + kUnit)) * a * scale +
                                  1.01 * eta * k_abs * scale + s_unit * std::fabs(s[j]));
      mx = std::max(mx, s[j]);
    }
    double sum = 0, spread = 0;
    for (int64_t j = 0; j < n; ++j) {
      p[j] = std::exp(s[j] - mx);
      sum += p[j];
      spread = std::max(spread, mx - s[j]);
    }
    const double eps_p = std::expm1(2 * delta) + (double(n) + 4) * kUnit + kUnit * spread + p_extra;
    for (int64_t i = 0; i < d; ++i) {
      double acc = 0, mag = 0, v_abs = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double v = V[j * kvd + kvh * d + i];
        acc += p[j] / sum * v;
        mag += p[j] / sum * std::fabs(v);
        v_abs += std::fabs(v);
      }
      y64[h * d + i] = acc;
      budget[h * d + i] = 1.25 * (gamma(double(n) + 1, acc_unit) + eps_p + 2 * kUnit) * mag + 1.25 * eta * v_abs / sum;
    }
  }
  return compare(y, y64, budget);
}

LocalCheck LocalChecker::check(const StageRecorder& run, const CacheSnapshot& cache, int32_t token, StageId id,
                               const RoutePrecision& pr) const {
  const auto& w = model_.weights();
  const int L = id.layer;
  auto get = [&](Point p, int layer) { return run.row(p, layer); };
  const auto* y = get(id.point, L);
  if (!y) return {};
  const int last = static_cast<int>(model_.config().n_layers) - 1;
  const LayerWeights* lw = L >= 0 ? &w.layers[L] : nullptr;
  auto need = [&](Point p, int layer, auto&& fn) -> LocalCheck {
    const auto* x = get(p, layer);
    return x ? fn(*x) : LocalCheck{};
  };
  auto sum_check = [&](Point a, Point b) -> LocalCheck {
    const auto *x = get(a, L), *z = get(b, L);
    if (!x || !z) return {};
    std::vector<double> y64(x->size());
    for (size_t i = 0; i < y64.size(); ++i) y64[i] = double((*x)[i]) + (*z)[i];
    return compare_relative(*y, y64, kUnit);
  };
  switch (id.point) {
    case Point::x_in: {
      if (L > 0) {  // identity with the previous layer's output
        const auto* prev = get(Point::x_out, L - 1);
        if (!prev) return {};
        return compare_relative(*y, std::vector<double>(prev->begin(), prev->end()), 0.0);
      }
      std::vector<float> row(w.token_embd.cols);
      quant::dequantize_row(w.token_embd.type, static_cast<const uint8_t*>(w.token_embd.host) + token * w.token_embd.row_bytes(),
                            row.data(), row.size());
      return compare_relative(*y, std::vector<double>(row.begin(), row.end()), 0.0);
    }
    case Point::attn_norm: return need(Point::x_in, L, [&](const auto& x) { return rmsnorm(lw->attn_norm, x, *y); });
    case Point::q: return need(Point::attn_norm, L, [&](const auto& x) { return check_matmul(lw->wq, x, *y, pr); });
    case Point::k: return need(Point::attn_norm, L, [&](const auto& x) { return check_matmul(lw->wk, x, *y, pr); });
    case Point::v: return need(Point::attn_norm, L, [&](const auto& x) { return check_matmul(lw->wv, x, *y, pr); });
    case Point::q_rope: return need(Point::q, L, [&](const auto& x) { return rope(x, *y, run.position()); });
    case Point::k_rope: return need(Point::k, L, [&](const auto& x) { return rope(x, *y, run.position()); });
    case Point::attn_out: return need(Point::q_rope, L, [&](const auto& x) { return attention(x, cache, L, run.position(), *y, pr); });
    case Point::wo_out: return need(Point::attn_out, L, [&](const auto& x) { return check_matmul(lw->wo, x, *y, pr); });
    case Point::x_after_attn: return sum_check(Point::x_in, Point::wo_out);
    case Point::ffn_norm: return need(Point::x_after_attn, L, [&](const auto& x) { return rmsnorm(lw->ffn_norm, x, *y); });
    case Point::gate: return need(Point::ffn_norm, L, [&](const auto& x) { return check_matmul(lw->w_gate, x, *y, pr); });
    case Point::up: return need(Point::ffn_norm, L, [&](const auto& x) { return check_matmul(lw->w_up, x, *y, pr); });
    case Point::ffn_act: {
      const auto *g = get(Point::gate, L), *u = get(Point::up, L);
      if (!g || !u) return {};
      std::vector<double> y64(g->size());
      for (size_t i = 0; i < y64.size(); ++i) y64[i] = double((*g)[i]) / (1.0 + std::exp(-double((*g)[i]))) * (*u)[i];
      return compare_relative(*y, y64, 8 * kUnit);
    }
    case Point::mlp_out: return need(Point::ffn_act, L, [&](const auto& x) { return check_matmul(lw->w_down, x, *y, pr); });
    case Point::x_out: return sum_check(Point::x_after_attn, Point::mlp_out);
    case Point::final_norm: return need(Point::x_out, last, [&](const auto& x) { return rmsnorm(w.output_norm, x, *y); });
    case Point::logits: return need(Point::final_norm, -1, [&](const auto& x) { return check_matmul(w.output, x, *y, pr); });
  }
  return {};
}

}  // namespace greta::audit
