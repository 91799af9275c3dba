#include "model/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/noise.h"
#include "quant/quant.h"

namespace greta {

using trace::Point;

struct LlamaModel::Buffers {
  int64_t rows = 0;
  Act x, xn, q, k, v, att, proj, x2, gate, up, act, scratch;
  Act logits;  // grown on demand
  std::vector<float> host;  // staging for probes and faults
};

LlamaModel::LlamaModel(gguf::GgufFile file, Backend& backend)
    : file_(std::move(file)), backend_(backend), config_(LlamaConfig::from_gguf(file_)),
      weights_(LlamaWeights::bind(file_, config_, backend_)), chunk_rows_(backend_.preferred_chunk_rows()) {
  rope_freqs_ = rope_frequencies(config_, weights_.rope_freq_factors.empty() ? nullptr : weights_.rope_freq_factors.data());
}

LlamaModel::~LlamaModel() {
  if (!buf_) return;
  for (Act* a : {&buf_->x, &buf_->xn, &buf_->q, &buf_->k, &buf_->v, &buf_->att, &buf_->proj, &buf_->x2,
                 &buf_->gate, &buf_->up, &buf_->act, &buf_->scratch, &buf_->logits})
    if (a->data) backend_.release(*a);
}

KvCache LlamaModel::make_cache(int64_t n_ctx) const {
  return backend_.alloc_cache(config_.n_layers, n_ctx, config_.kv_dim());
}

void LlamaModel::free_cache(KvCache& c) const { backend_.free_cache(c); }

void LlamaModel::validate_faults(const FaultSet& faults) const {
  const auto& c = config_;
  for (const auto& f : faults.faults) {
    if (f.layer >= c.n_layers)
      throw InputError("--inject " + f.spec + ": layer " + std::to_string(f.layer) + " is out of range (model has " +
                       std::to_string(c.n_layers) + " layers)");
    if (f.kind != FaultKind::Skip) continue;
    // skip passes the op's first input through: only where input and output have one size.
    int64_t in = 0, out = 0;
    switch (f.point) {
      case Point::x_in: throw InputError("--inject " + f.spec + ": skip does not apply to x_in (the embedding has no input row)");
      case Point::q: in = c.dim; out = c.q_dim(); break;
      case Point::k: case Point::v: in = c.dim; out = c.kv_dim(); break;
      case Point::wo_out: in = c.q_dim(); out = c.dim; break;
      case Point::gate: case Point::up: in = c.dim; out = c.n_ffn; break;
      case Point::mlp_out: in = c.n_ffn; out = c.dim; break;
      case Point::logits: in = c.dim; out = c.n_vocab; break;
      default: break;
    }
    if (in != out)
      throw InputError("--inject " + f.spec + ": skip needs equal input and output sizes at " +
                       std::string(trace::point_name(f.point)) + " (" + std::to_string(in) + " vs " + std::to_string(out) + ")");
  }
}

void LlamaModel::forward(KvCache& cache, const int32_t* tokens, const int32_t* pos, int64_t n, Path path,
                         LogitsRows want, float* logits, const Hooks& hooks) {
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.n_vocab)
      throw InputError("token id " + std::to_string(tokens[i]) + " is outside the vocabulary (0.." +
                       std::to_string(config_.n_vocab - 1) + ")");
    if (pos[i] < 0 || pos[i] >= cache.n_ctx)
      throw InputError("position " + std::to_string(pos[i]) + " does not fit the context of " + std::to_string(cache.n_ctx) +
                       " tokens (use a larger -c)");
  }
  for (int64_t start = 0; start < n; start += chunk_rows_) {
    const int64_t m = std::min(chunk_rows_, n - start);
    const bool last_step = start + m == n;
    LogitsRows step_want = want == LogitsRows::All ? LogitsRows::All : (last_step ? want : LogitsRows::None);
    float* out = want == LogitsRows::All ? logits + start * config_.n_vocab : logits;
    forward_step(cache, tokens + start, pos + start, m, path, step_want, out, hooks);
  }
}

void LlamaModel::set_chunk_rows(int64_t rows) {
  if (rows < 1) throw InputError("the prefill chunk must be at least 1 token");
  chunk_rows_ = rows;
}

void LlamaModel::observe(const Hooks& h, Point p, int layer, Act a, const int32_t* pos) const {
  if (!h.probe) return;
  for (int64_t r = 0; r < a.rows; ++r) {
    if (!h.probe->wants(p, layer, pos[r])) continue;
    buf_->host.resize(a.cols);
    backend_.to_host(a, r, 1, buf_->host.data());
    h.probe->record(p, layer, pos[r], buf_->host.data(), a.cols);
  }
}

void LlamaModel::transposed_matmul(const Weight& w, Act x, Act out) {
  // The B3.39 bug: element (r, k) is read from where element (k, r) of a [cols][rows]
  // matrix would be, over the same bytes.
  std::vector<float> wf(w.rows * w.cols), xh(x.rows * x.cols), yh(out.rows * out.cols);
  const auto* base = static_cast<const uint8_t*>(w.host);
  for (int64_t r = 0; r < w.rows; ++r) quant::dequantize_row(w.type, base + r * w.row_bytes(), wf.data() + r * w.cols, w.cols);
  backend_.to_host(x, 0, x.rows, xh.data());
  for (int64_t t = 0; t < x.rows; ++t)
    for (int64_t r = 0; r < w.rows; ++r) {
      double s = 0;
      for (int64_t k = 0; k < w.cols; ++k) s += double(wf[k * w.rows + r]) * xh[t * x.cols + k];
      yh[t * out.cols + r] = static_cast<float>(s);
    }
  backend_.from_host(yh.data(), out, 0, out.rows);
}

void LlamaModel::rotate_input(const Fault& f, Act in, Act scratch) {
  std::vector<float> h(in.rows * in.cols), r(in.rows * in.cols);
  backend_.to_host(in, 0, in.rows, h.data());
  const int64_t n = in.cols, s = ((static_cast<int64_t>(f.arg) % n) + n) % n;
  for (int64_t t = 0; t < in.rows; ++t)
    for (int64_t i = 0; i < n; ++i) r[t * n + i] = h[t * n + (i - s + n) % n];
  backend_.from_host(r.data(), scratch, 0, in.rows);
}

void LlamaModel::apply_output_fault(const Fault& f, Act in, Act out, const int32_t* pos) {
  switch (f.kind) {
    case FaultKind::Scale: backend_.scale(out, static_cast<float>(f.arg)); break;
    case FaultKind::Zero: backend_.scale(out, 0.0f); break;
    case FaultKind::Skip: backend_.copy(in, out); break;
    case FaultKind::Noise: {
      std::vector<float> h(out.rows * out.cols);
      backend_.to_host(out, 0, out.rows, h.data());
      for (int64_t t = 0; t < out.rows; ++t) add_relative_noise(h.data() + t * out.cols, out.cols, f.arg, f.seed, pos[t]);
      backend_.from_host(h.data(), out, 0, out.rows);
      break;
    }
    default: break;  // transpose and offset act on the op's inputs, handled at the call
  }
}

template <class Op>
void LlamaModel::stage(const Hooks& h, Path path, Point p, int layer, Act in, Act out, const int32_t* pos, Op op) {
  const Fault* f = h.faults ? h.faults->find(path, p, layer) : nullptr;
  if (f && f->kind == FaultKind::Offset && p != Point::x_in && p != Point::q_rope && p != Point::k_rope &&
      p != Point::attn_out) {
    Act s{buf_->scratch.data, in.rows, in.cols};
    rotate_input(*f, in, s);
    op(s);
  } else if (!(f && f->kind == FaultKind::Skip)) {
    op(in);
  }
  if (f) apply_output_fault(*f, in, out, pos);
  observe(h, p, layer, out, pos);
}

void LlamaModel::matmul_stage(const Hooks& h, Path path, Point p, int layer, const Weight& w, Act x, Act out,
                              const int32_t* pos) {
  const Fault* f = h.faults ? h.faults->find(path, p, layer) : nullptr;
  if (f && f->kind == FaultKind::Transpose) {
    transposed_matmul(w, x, out);
    observe(h, p, layer, out, pos);
    return;
  }
  stage(h, path, p, layer, x, out, pos, [&](Act in) { backend_.matmul(w, in, out, h.routes.for_path(path)); });
}

void LlamaModel::ensure_buffers(int64_t rows, int64_t logits_rows) {
  const auto& c = config_;
  if (!buf_) buf_ = std::make_unique<Buffers>();
  auto& b = *buf_;
  if (b.rows < rows) {
    for (Act* a : {&b.x, &b.xn, &b.q, &b.k, &b.v, &b.att, &b.proj, &b.x2, &b.gate, &b.up, &b.act, &b.scratch})
      if (a->data) backend_.release(*a);
    b.x = backend_.alloc(rows, c.dim);
    b.xn = backend_.alloc(rows, c.dim);
    b.q = backend_.alloc(rows, c.q_dim());
    b.k = backend_.alloc(rows, c.kv_dim());
    b.v = backend_.alloc(rows, c.kv_dim());
    b.att = backend_.alloc(rows, c.q_dim());
    b.proj = backend_.alloc(rows, c.dim);
    b.x2 = backend_.alloc(rows, c.dim);
    b.gate = backend_.alloc(rows, c.n_ffn);
    b.up = backend_.alloc(rows, c.n_ffn);
    b.act = backend_.alloc(rows, c.n_ffn);
    b.scratch = backend_.alloc(rows, std::max({c.dim, c.q_dim(), c.n_ffn}));
    b.rows = rows;
  }
  if (b.logits.rows < logits_rows) {
    if (b.logits.data) backend_.release(b.logits);
    b.logits = backend_.alloc(logits_rows, c.n_vocab);
  }
}

void LlamaModel::rope_table(const int32_t* pos, int64_t n, int32_t shift, std::vector<float>& table) const {
  // Angles in double: at position 8191 a float angle would already be off by ~1e-3 rad.
  const size_t pairs = rope_freqs_.size();
  table.resize(n * pairs * 2);
  for (int64_t r = 0; r < n; ++r)
    for (size_t i = 0; i < pairs; ++i) {
      const double angle = static_cast<double>(pos[r] - shift) * static_cast<double>(rope_freqs_[i]);
      table[(r * pairs + i) * 2] = static_cast<float>(std::cos(angle));
      table[(r * pairs + i) * 2 + 1] = static_cast<float>(std::sin(angle));
    }
}

void LlamaModel::forward_step(KvCache& cache, const int32_t* tokens, const int32_t* pos, int64_t n, Path path,
                              LogitsRows want, float* logits, const Hooks& h) {
  const auto& c = config_;
  const int64_t n_logits = want == LogitsRows::All ? n : (want == LogitsRows::Last ? 1 : 0);
  ensure_buffers(n, n_logits);
  auto& b = *buf_;
  auto rows = [n](Act a) { return a.first_rows(n); };
  Act x = rows(b.x), xn = rows(b.xn), q = rows(b.q), k = rows(b.k), v = rows(b.v), att = rows(b.att),
      proj = rows(b.proj), x2 = rows(b.x2), gate = rows(b.gate), up = rows(b.up), act = rows(b.act);
  const Route route = h.routes.for_path(path);
  const AttentionShape shape{static_cast<int>(c.n_heads), static_cast<int>(c.n_kv_heads), static_cast<int>(c.head_dim)};

  std::vector<float> cos_sin;
  rope_table(pos, n, 0, cos_sin);
  auto rope_stage = [&](Point p, int layer, Act a) {
    const Fault* f = h.faults ? h.faults->find(path, p, layer) : nullptr;
    stage(h, path, p, layer, a, a, pos, [&](Act in) {
      if (f && f->kind == FaultKind::Offset) {
        std::vector<float> shifted;
        rope_table(pos, n, static_cast<int32_t>(f->arg), shifted);
        backend_.rope(in, static_cast<int>(c.head_dim), static_cast<int>(c.rope_dim), shifted.data());
      } else {
        backend_.rope(in, static_cast<int>(c.head_dim), static_cast<int>(c.rope_dim), cos_sin.data());
      }
    });
  };

  // With nothing observing or faulting the stages in between, pairs of stages run as one
  // fused op (the same bits): add + the next rmsnorm, rope of q and k + the KV store, the
  // products that share an input (q, k, v; gate, up) go to the backend together, and gate
  // and up with their SwiGLU. The last layer's add fuses with final_norm only when every row
  // gets logits.
  const bool fuse = !h.probe && (!h.faults || h.faults->faults.empty());
  const bool fuse_final = fuse && n_logits == n;
  const int head_dim = static_cast<int>(c.head_dim), rope_dim = static_cast<int>(c.rope_dim);
  const int64_t first = n - n_logits;
  Act xl{x.row(first), n_logits, c.dim};
  Act xnl{xn.data, n_logits, c.dim};
  Act lg{b.logits.data, n_logits, c.n_vocab};
  const int32_t* lpos = pos + first;

  // Every op of the step up to the logits on the device.
  auto ops = [&] {
    // Embedding: an offset fault reads another token's row.
    {
      const Fault* f = h.faults ? h.faults->find(path, Point::x_in, 0) : nullptr;
      if (f && f->kind == FaultKind::Offset) {
        std::vector<int32_t> shifted(tokens, tokens + n);
        for (auto& t : shifted) t = static_cast<int32_t>(((t - static_cast<int64_t>(f->arg)) % c.n_vocab + c.n_vocab) % c.n_vocab);
        backend_.embed(weights_.token_embd, shifted.data(), n, x);
      } else {
        backend_.embed(weights_.token_embd, tokens, n, x);
      }
      if (f && f->kind != FaultKind::Offset) apply_output_fault(*f, x, x, pos);
    }

    for (int l = 0; l < static_cast<int>(c.n_layers); ++l) {
      const auto& L = weights_.layers[l];
      if (l > 0) {
        // x_in of layer l is x_out of layer l-1; a fault at x_in of a later layer acts on it.
        const Fault* f = h.faults ? h.faults->find(path, Point::x_in, l) : nullptr;
        if (f && f->kind == FaultKind::Offset) {
          Act s{b.scratch.data, n, c.dim};
          rotate_input(*f, x, s);
          backend_.copy(s, x);
        } else if (f) {
          apply_output_fault(*f, x, x, pos);
        }
      }
      observe(h, Point::x_in, l, x, pos);
      // Fused, layers after the first got xn from the previous layer's add_rmsnorm.
      if (!fuse || l == 0)
        stage(h, path, Point::attn_norm, l, x, xn, pos, [&](Act in) { backend_.rmsnorm(in, L.attn_norm, c.rms_eps, xn); });
      if (fuse) {  // the three products of xn in one launch where the backend can, then rope + store
        const Backend::Product qkv[] = {{&L.wq, q}, {&L.wk, k}, {&L.wv, v}};
        backend_.matmuls(qkv, 3, xn, route);
        backend_.rope_qk_store(q, k, v, cache, l, pos, head_dim, rope_dim, cos_sin.data());
      } else {
        matmul_stage(h, path, Point::q, l, L.wq, xn, q, pos);
        matmul_stage(h, path, Point::k, l, L.wk, xn, k, pos);
        matmul_stage(h, path, Point::v, l, L.wv, xn, v, pos);
        rope_stage(Point::q_rope, l, q);
        rope_stage(Point::k_rope, l, k);
        backend_.kv_store(cache, l, k, v, pos);
      }
      {
        const Fault* f = h.faults ? h.faults->find(path, Point::attn_out, l) : nullptr;
        const int shift = f && f->kind == FaultKind::Offset ? static_cast<int>(f->arg) : 0;
        stage(h, path, Point::attn_out, l, q, att, pos,
              [&](Act in) { backend_.attention(route, in, cache, l, pos, shape, att, shift); });
      }
      matmul_stage(h, path, Point::wo_out, l, L.wo, att, proj, pos);
      if (fuse) {
        backend_.add_rmsnorm(x, proj, x2, L.ffn_norm, c.rms_eps, xn);
      } else {
        stage(h, path, Point::x_after_attn, l, x, x2, pos, [&](Act in) { backend_.add(in, proj, x2); });
        stage(h, path, Point::ffn_norm, l, x2, xn, pos, [&](Act in) { backend_.rmsnorm(in, L.ffn_norm, c.rms_eps, xn); });
      }
      if (fuse) {  // gate and up of xn in one launch where the backend can, with their SwiGLU
        backend_.gate_up_swiglu(L.w_gate, L.w_up, xn, gate, up, act, route);
      } else {
        matmul_stage(h, path, Point::gate, l, L.w_gate, xn, gate, pos);
        matmul_stage(h, path, Point::up, l, L.w_up, xn, up, pos);
        stage(h, path, Point::ffn_act, l, gate, act, pos, [&](Act in) { backend_.swiglu(in, up, act); });
      }
      matmul_stage(h, path, Point::mlp_out, l, L.w_down, act, proj, pos);
      const bool last = l + 1 == static_cast<int>(c.n_layers);
      const Weight* next_norm = !last ? &weights_.layers[l + 1].attn_norm : (fuse_final ? &weights_.output_norm : nullptr);
      if (fuse && next_norm)
        backend_.add_rmsnorm(x2, proj, x, *next_norm, c.rms_eps, xn);
      else
        stage(h, path, Point::x_out, l, x2, x, pos, [&](Act in) { backend_.add(in, proj, x); });
    }

    if (n_logits == 0) return;
    if (!fuse_final)  // fused, the last layer's add_rmsnorm already wrote xn
      stage(h, path, Point::final_norm, -1, xl, xnl, lpos,
            [&](Act in) { backend_.rmsnorm(in, weights_.output_norm, c.rms_eps, xnl); });
    matmul_stage(h, path, Point::logits, -1, weights_.output, xnl, lg, lpos);
  };
  // A one-row step that nothing observes reads the host only through its inputs, so the
  // backend may replay it (CUDA graphs); the logits are read back after it either way.
  if (fuse && n == 1)
    backend_.run_step(StepInputs{tokens, pos, cos_sin.data(), n, static_cast<int64_t>(rope_freqs_.size()) * 2,
                                 cache.k.empty() ? nullptr : cache.k.front()},
                      ops);
  else
    ops();
  if (n_logits == 0) return;
  backend_.to_host(lg, 0, n_logits, logits);
}

}  // namespace greta
