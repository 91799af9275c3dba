#include "backend/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "backend/cuda/cuda_chain_queue.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_step_graphs.h"
#include "backend/cuda/cuda_timeline.h"
#include "greta/error.h"

namespace greta::cuda {

void check(int code, const char* what) {
  if (code != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                             cudaGetErrorString(static_cast<cudaError_t>(code)));
}

void check_launch(const char* kernel) {
  if (launch_queue().record) return;  // nothing was launched
  check(cudaGetLastError(), kernel);
}

int64_t vector_width(TensorType type, const void* w, int64_t row_bytes, int64_t k, const float* x, int64_t ldx) {
  const bool x_aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0 && ldx % 4 == 0;
  const bool plain = type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16;
  if (!plain) return k;
  const bool w_aligned = reinterpret_cast<uintptr_t>(w) % 16 == 0 && row_bytes % 16 == 0;
  return x_aligned && w_aligned ? k / 8 * 8 : 0;
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver / no device" error
    return 0;
  }
  return n;
}

namespace {

size_t act_bytes(int64_t rows, int64_t cols) { return static_cast<size_t>(rows * cols) * sizeof(float); }

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("cuda backend: " + what);
}

}  // namespace

CudaBackend::CudaBackend(int device, CudaOptions options) : device_(device), options_(options) {
  if (options_.kv_type != TensorType::F32 && options_.kv_type != TensorType::F16)
    throw InputError("the CUDA KV cache is f16 or f32");
  const int n = device_count();
  if (n == 0) throw InputError("no CUDA device found: use --backend cpu");
  if (device < 0 || device >= n)
    throw InputError("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(n) + " found)");
  check(cudaSetDevice(device), "cudaSetDevice");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  device_name_ = prop.name;
  sm_major_ = prop.major;
  sm_minor_ = prop.minor;
#ifdef GRETA_CUDA_TIMELINE
  timeline_ = std::make_unique<Timeline>();
#endif
  if (options_.graphs) {
    graphs_ = std::make_unique<StepGraphs>();
    graphs_->set_early_launch(options_.early_launch);
  }
  if (options_.chain && options_.tensor_cores && sm_major_ >= 9) {
    const size_t bytes = 2 * sizeof(unsigned);
    check(cudaMalloc(&chain_counters_, bytes), "cudaMalloc (chain counters)");
    check(cudaMemset(chain_counters_, 0, bytes), "cudaMemset");
    chain_ = std::make_unique<ChainQueue>(chain_counters_, [this](int64_t n) {
      return static_cast<float*>(scratch(chain_silu_, static_cast<size_t>(n) * sizeof(float)));
    });
  }
}

CudaBackend::~CudaBackend() {
  cudaDeviceSynchronize();
  if (timeline_) timeline_->write();
  timeline_.reset();
  graphs_.reset();
  chain_.reset();
  if (chain_counters_) cudaFree(chain_counters_);
  for (void* p : weights_) cudaFree(p);
  for (Scratch* s : {&tokens_, &positions_, &cos_sin_, &partial_, &w16_, &x16_, &chain_silu_})
    if (s->ptr) cudaFree(s->ptr);
  for (Stage& st : stages_) {
    if (st.host) cudaFreeHost(st.host);
    if (st.done) cudaEventDestroy(static_cast<cudaEvent_t>(st.done));
  }
}

std::string CudaBackend::name() const {
  return "cuda (" + device_name_ + ", sm_" + std::to_string(sm_major_) + std::to_string(sm_minor_) + ")";
}

std::string CudaBackend::numeric_contract() const {
  const std::string common =
      "weights dequantized exactly to f32 inside the kernels with the CPU's per-format expressions (same bits); "
      "rmsnorm sum of squares in f64, then (x*s)*g in f32; rope, swiglu, add, scale as on the CPU (expf to "
      "within 2 ulp, correctly rounded division and sqrt, no fast-math); exact-weight GEMV: f32 fused-multiply-add "
      "of exact weights and f32 activations, one chain per lane over its share of the row, then a warp "
      "butterfly; decode attention: f32 scores and an online softmax over chunks of keys, caches longer than a "
      "few hundred keys split into segments merged in a second pass";
  if (!options_.tensor_cores)
    return "precision exact: activations and KV cache f32; " + common +
           "; prefill (GEMM): one sequential f32 FMA chain over k per output of exact weights and f32 "
           "activations, so the two routes agree within gamma_K sum|w x| but not bit for bit; prefill attention "
           "as decode attention, one segment";
  return std::string("precision fast: activations f32, KV cache ") +
         (options_.kv_type == TensorType::F16 ? "f16 (rounded to nearest when stored)" : "f32") + "; " + common +
         "; matrix products on tensor cores in both routes: the f16 weights of each format's formula (rn(d*q), "
         "rn(q*rn(d*sc) - rn(dmin*m)), rn((q-32)*rn(d*sc)), ...; docs/audit.md) times the activations rounded to "
         "f16, accumulated in f32 (terms aligned by truncation inside the multi-term adds); decode of rows that "
         "are not whole 128-weight steps (F32: 64) keeps the exact-weight f32 kernel above; "
         "attention over the f16 cache in both routes with q rounded to f16 and an f32 online softmax with exp2 "
         "of log2(e)-scaled scores; prefill: flash attention on tensor cores, each probability split into two f16 "
         "parts (hi + lo, f32 precision) for P*V; decode over more than 128 keys (head_dim 64 or 128) likewise on "
         "tensor cores in segments; so the two routes' attention differs only in summation order";
}

void CudaBackend::memory_changed() {
  if (graphs_) graphs_->memory_changed();
}

void* CudaBackend::scratch(Scratch& s, size_t bytes) {
  if (bytes > s.bytes) {
    memory_changed();
    if (s.ptr) check(cudaFree(s.ptr), "cudaFree");  // synchronizes: no kernel still reads it
    s.ptr = nullptr;
    s.last.clear();
    const size_t grown = std::max(bytes, 2 * s.bytes);
    check(cudaMalloc(&s.ptr, grown), "cudaMalloc (scratch)");
    s.bytes = grown;
  }
  return s.ptr;
}

const void* CudaBackend::upload_small(Scratch& s, const void* host, size_t bytes) {
  void* d = scratch(s, std::max<size_t>(bytes, 16));
  if (s.last.size() == bytes && std::memcmp(s.last.data(), host, bytes) == 0) return d;
  s.last.assign(static_cast<const uint8_t*>(host), static_cast<const uint8_t*>(host) + bytes);
  if (bytes == 0) return d;
  Stage& st = stages_[next_stage_];
  next_stage_ = (next_stage_ + 1) % stages_.size();
  if (st.done) check(cudaEventSynchronize(static_cast<cudaEvent_t>(st.done)), "staging wait");
  if (bytes > st.bytes) {
    if (st.host) check(cudaFreeHost(st.host), "cudaFreeHost");
    st.host = nullptr;
    const size_t grown = std::max<size_t>(bytes, 4096);
    check(cudaHostAlloc(&st.host, grown, cudaHostAllocDefault), "cudaHostAlloc (staging)");
    st.bytes = grown;
  }
  if (!st.done) {
    cudaEvent_t e;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    st.done = e;
  }
  std::memcpy(st.host, host, bytes);
  // Stream order puts this copy after every kernel queued before it, so the kernels that
  // read the previous contents of `d` have finished when it lands.
  check(cudaMemcpyAsync(d, st.host, bytes, cudaMemcpyHostToDevice), "upload");
  check(cudaEventRecord(static_cast<cudaEvent_t>(st.done)), "cudaEventRecord");
  return d;
}

const void* CudaBackend::input(Scratch& s, const void* host, size_t bytes) {
  if (graphs_ && graphs_->active()) return graphs_->device_input(host, bytes);
  return upload_small(s, host, bytes);
}

Weight CudaBackend::upload(TensorType type, const void* host, int64_t rows, int64_t cols) {
  const size_t bytes = static_cast<size_t>(rows) * static_cast<size_t>(greta::row_bytes(type, cols));
  void* d = nullptr;
  memory_changed();
  check(cudaMalloc(&d, std::max<size_t>(bytes, 1)), "cudaMalloc (weights)");
  weights_.push_back(d);
  check(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), "upload weights");
  return Weight{type, d, host, rows, cols};
}

Act CudaBackend::alloc(int64_t rows, int64_t cols) {
  void* d = nullptr;
  const size_t bytes = std::max<size_t>(act_bytes(rows, cols), 16);
  memory_changed();
  check(cudaMalloc(&d, bytes), "cudaMalloc (activations)");
  check(cudaMemset(d, 0, bytes), "cudaMemset");
  return Act{static_cast<float*>(d), rows, cols};
}

void CudaBackend::release(Act a) {
  settle();
  memory_changed();
  if (a.data) check(cudaFree(a.data), "cudaFree");
}

KvCache CudaBackend::alloc_cache(int64_t n_layers, int64_t n_ctx, int64_t kv_dim) {
  KvCache c;
  c.n_ctx = n_ctx;
  c.kv_dim = kv_dim;
  c.type = options_.kv_type;
  memory_changed();
  const size_t bytes = std::max<size_t>(static_cast<size_t>(n_ctx * kv_dim) * type_traits(c.type).block_bytes, 16);
  for (int64_t l = 0; l < n_layers; ++l)
    for (auto* side : {&c.k, &c.v}) {
      void* d = nullptr;
      check(cudaMalloc(&d, bytes), "cudaMalloc (KV cache)");
      check(cudaMemset(d, 0, bytes), "cudaMemset");
      side->push_back(d);
    }
  return c;
}

void CudaBackend::free_cache(KvCache& cache) {
  settle();
  memory_changed();
  for (auto* side : {&cache.k, &cache.v})
    for (void* p : *side) check(cudaFree(p), "cudaFree");
  cache.k.clear();
  cache.v.clear();
}

void CudaBackend::read_cache(const KvCache& cache, int layer, int64_t rows, float* k, float* v) {
  settle();
  if (skip_while_recording()) return;
  const int64_t n = rows * cache.kv_dim;
  if (cache.type == TensorType::F32) {
    check(cudaMemcpy(k, cache.k[layer], static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost), "read_cache");
    check(cudaMemcpy(v, cache.v[layer], static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost), "read_cache");
    return;
  }
  auto* tmp = static_cast<float*>(scratch(partial_, static_cast<size_t>(n) * sizeof(float)));
  for (auto [src, dst] : {std::pair{cache.k[layer], k}, std::pair{cache.v[layer], v}}) {
    launch_f16_to_f32(static_cast<const uint16_t*>(src), n, tmp);
    check(cudaMemcpy(dst, tmp, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost), "read_cache");
  }
}

RoutePrecision CudaBackend::precision(Route route) const {
  RoutePrecision p;
  if (!options_.tensor_cores) return p;
  // Both matrix routes multiply the same f16 operands (cuda_dequant_f16.cuh) on tensor cores.
  p.matmul_operand_unit = 0x1.0p-11;  // f16 round to nearest
  p.matmul_weight_from_terms = true;   // K-quant weights rounded from their rounded scales
  p.accumulation_unit = 0x1.0p-23;
  // Over the f16 cache both routes round q to f16 (AttentionArgs::f16_operands); prefill,
  // and decode's split launches on the tensor cores (CudaOptions::attention_mma), pass each
  // probability as two f16 parts (hi + lo: relative error at most 2^-22); the other decode
  // launches keep it in f32, within that bound.
  if (options_.kv_type == TensorType::F16) {
    p.attention_operand_unit = 0x1.0p-11;
    if (route == Route::Gemm || options_.attention_mma) p.attention_probability_unit = 0x1.0p-22;
  }
  return p;
}

void CudaBackend::to_host(Act src, int64_t first_row, int64_t n_rows, float* dst) {
  settle();
  if (skip_while_recording()) return;
  check(cudaMemcpy(dst, src.row(first_row), act_bytes(n_rows, src.cols), cudaMemcpyDeviceToHost), "to_host");
}

float* CudaBackend::alloc_host(int64_t n) {
  void* p = nullptr;
  check(cudaHostAlloc(&p, static_cast<size_t>(n) * sizeof(float), cudaHostAllocDefault), "cudaHostAlloc (step results)");
  return static_cast<float*>(p);
}

void CudaBackend::free_host(float* p) {
  if (p) cudaFreeHost(p);
}

void CudaBackend::from_host(const float* src, Act dst, int64_t first_row, int64_t n_rows) {
  settle();
  if (skip_while_recording()) return;
  check(cudaMemcpy(dst.row(first_row), src, act_bytes(n_rows, dst.cols), cudaMemcpyHostToDevice), "from_host");
}

void CudaBackend::embed(const Weight& table, const int32_t* tokens, int64_t n, Act out) {
  settle();
  require(table.cols % 8 == 0 && out.cols == table.cols, "embed needs a table width that is a multiple of 8");
  const auto* d_tokens = static_cast<const int32_t*>(input(tokens_, tokens, static_cast<size_t>(n) * sizeof(int32_t)));
  launch_embed(table.type, table.data, table.row_bytes(), table.cols, d_tokens, n, out.data);
}

void CudaBackend::rmsnorm(Act x, const Weight& w, float eps, Act out) {
  settle();
  require(w.type == TensorType::F32 && w.rows * w.cols == x.cols, "rmsnorm needs an f32 weight of the row width");
  launch_rmsnorm(x.data, static_cast<const float*>(w.data), eps, x.rows, x.cols, out.data);
}

void CudaBackend::matmul(const Weight& w, Act x, Act out, Route route) {
  const Product p{&w, out};
  if (chain_products(&p, 1, x, route)) return;
  std::optional<PendingNorm> norm = take_norm(x);
  settle();
  if (link_product(w, x, out, route, norm)) return;
  materialize(norm);
  const bool plain = w.type == TensorType::F32 || w.type == TensorType::F16 || w.type == TensorType::BF16;
  require(x.cols >= w.cols && out.cols >= w.rows, "matmul shapes do not fit");
  require(plain || (reinterpret_cast<uintptr_t>(x.data) % 16 == 0 && x.cols % 4 == 0),
          "a quantized matmul needs 16-byte aligned activation rows");
  if (route == Route::Gemm && options_.tensor_cores && x.rows > kGemvRowsInGemmRoute) {
    // Both operands rounded to f16 rows of k_pad (zero tail), then one tensor-core GEMM;
    // the weights are converted again on every call (no f16 copy kept: it would double
    // the weights' memory). Converting the next weight on a side stream during this product
    // was tried and gained nothing: the GEMM holds the multiprocessors' registers.
    const int64_t k_pad = mma_k_padded(w.cols);
    auto* x16 = static_cast<uint16_t*>(scratch(x16_, static_cast<size_t>(x.rows * k_pad) * sizeof(uint16_t)));
    launch_to_f16(x.data, x.cols, x.rows, w.cols, x16);
    auto* w16 = static_cast<uint16_t*>(scratch(w16_, static_cast<size_t>(w.rows * k_pad) * sizeof(uint16_t)));
    launch_dequant_f16(w.type, w.data, w.row_bytes(), w.rows, w.cols, w16);
    launch_gemm_f16(w16, w.rows, x16, x.rows, k_pad, out.data, out.cols);
  } else if (f16_gemv(w, x, route)) {  // decode, or a few rows: the same f16 operands as the GEMM
    const GemvTarget t{w.data, w.row_bytes(), w.rows, out.data, out.cols};
    launch_gemv_f16_group(w.type, &t, 1, w.cols, x.data, x.cols, x.rows, launching_product(&t, 1, false));
  } else if (route == Route::Gemv || options_.tensor_cores) {
    launch_gemv(w.type, w.data, w.row_bytes(), w.rows, w.cols, x.data, x.cols, x.rows, out.data, out.cols);
  } else
    launch_gemm(w.type, w.data, w.row_bytes(), w.rows, w.cols, x.data, x.cols, x.rows, out.data, out.cols);
}

// The fast precision's matrix-vector products run on tensor cores with f16 operands where
// the format has such a kernel; the others keep the exact-weight kernel (the audit's
// f16 budget covers them too, being looser).
bool CudaBackend::f16_gemv(const Weight& w, Act x, Route route) const {
  return options_.tensor_cores && (route == Route::Gemv || x.rows <= kGemvRowsInGemmRoute) &&
         gemv_f16_supported(w.type, w.cols, x.data, x.cols);
}

bool CudaBackend::f16_gemv_product(const Product& p, Act x, Route route) const {
  return f16_gemv(*p.w, x, route) && x.cols >= p.w->cols && p.out.cols >= p.w->rows;
}

namespace {

// The launches of matmuls: products that take the same tensor-core GEMV (format and width,
// `fits`) in groups of up to 3 in order of first appearance, as group(first weight,
// targets, count); any other product alone, as single(product). At most 64 products.
template <class Fits, class Group, class Single>
void for_each_gemv_group(const Backend::Product* products, int n, Fits fits, Group group, Single single) {
  uint64_t done = 0;  // bit j: product j taken
  for (int i = 0; i < n; ++i) {
    if (done >> i & 1) continue;
    const Weight& wi = *products[i].w;
    if (!fits(products[i])) {
      single(products[i]);
      continue;
    }
    GemvTarget t[3];
    int m = 0;
    for (int j = i; j < n && m < 3; ++j) {
      const Backend::Product& p = products[j];
      if ((done >> j & 1) || p.w->type != wi.type || p.w->cols != wi.cols || !fits(p)) continue;
      t[m++] = GemvTarget{p.w->data, p.w->row_bytes(), p.w->rows, p.out.data, p.out.cols};
      done |= uint64_t{1} << j;
    }
    group(wi, t, m);
  }
}

}  // namespace

void CudaBackend::matmuls(const Product* products, int n, Act x, Route route) {
  if (chain_products(products, n, x, route)) return;
  std::optional<PendingNorm> norm = take_norm(x);  // the first launch may stage it
  settle();
  // Products that take the same tensor-core GEMV go in one launch, the others alone; q and
  // k of Q4_K with v of Q6_K also go in one (a kernel of both formats). Each row's result is
  // the same as in its own launch.
  if (n > 64) {
    materialize(norm);
    Backend::matmuls(products, n, x, route);
    return;
  }
  // The launches in order: a group (format, width, targets) or one product on its own.
  struct Launch {
    const Weight* w;
    GemvTarget t[3];
    int m;  // 0: the product `single` alone
    const Product* single;
  };
  Launch launches[64];  // no allocation: the record pass calls this for every step
  int n_launches = 0;
  for_each_gemv_group(
      products, n, [&](const Product& p) { return f16_gemv_product(p, x, route); },
      [&](const Weight& w, const GemvTarget* t, int m) {
        Launch& l = launches[n_launches++];
        l = Launch{&w, {}, m, nullptr};
        std::copy(t, t + m, l.t);
      },
      [&](const Product& p) { launches[n_launches++] = Launch{p.w, {}, 0, &p}; });
  // Two groups of two formats with one launch that takes both (a Q6_K v beside Q4_K q, k).
  if (n_launches == 2 && launches[0].m > 0 && launches[1].m > 0 && launches[0].m + launches[1].m <= 3 &&
      launches[0].w->cols == launches[1].w->cols) {
    GemvTarget both[3];
    std::copy(launches[0].t, launches[0].t + launches[0].m, both);
    std::copy(launches[1].t, launches[1].t + launches[1].m, both + launches[0].m);
    const NextProduct* next = launching_product(both, launches[0].m + launches[1].m, false);
    if (launch_gemv_f16_two_formats(launches[0].w->type, launches[0].t, launches[0].m, launches[1].w->type,
                                    launches[1].t, launches[1].m, launches[0].w->cols, norm ? norm->src : x.data,
                                    x.rows, next, norm ? norm->link : NormLink{})) {
      norm.reset();
      return;
    }
    product_declined();
  }
  for (int i = 0; i < n_launches; ++i) {
    const Launch& l = launches[i];
    if (norm && l.m > 0) {  // the first launch stages the pending row (and stores it for the others)
      if (launch_gemv_f16_linked(l.w->type, l.t, l.m, l.w->cols, norm->src, launching_product(l.t, l.m, false),
                                 norm->link)) {
        norm.reset();
        continue;
      }
      product_declined();
    }
    materialize(norm);
    if (l.m > 0)
      launch_gemv_f16_group(l.w->type, l.t, l.m, l.w->cols, x.data, x.cols, x.rows, launching_product(l.t, l.m, false));
    else
      matmul(*l.single->w, x, l.single->out, route);
  }
}

void CudaBackend::rope(Act x, int head_dim, int rope_dim, const float* cos_sin) {
  settle();
  const size_t n = static_cast<size_t>(x.rows) * static_cast<size_t>(rope_dim / 2) * 2;
  const void* d = input(cos_sin_, cos_sin, n * sizeof(float));
  launch_rope(x.data, x.rows, x.cols, head_dim, rope_dim, static_cast<const float*>(d));
}

void CudaBackend::kv_store(KvCache& cache, int layer, Act k, Act v, const int32_t* pos) {
  settle();
  const auto* d_pos = static_cast<const int32_t*>(input(positions_, pos, static_cast<size_t>(k.rows) * sizeof(int32_t)));
  launch_kv_store(k.data, v.data, k.rows, cache.kv_dim, d_pos, cache.k[layer], cache.v[layer],
                  cache.type == TensorType::F16);
}

void CudaBackend::add_rmsnorm(Act a, Act b, Act sum_out, const Weight& w, float eps, Act norm_out) {
  require(w.type == TensorType::F32 && w.rows * w.cols == a.cols, "rmsnorm needs an f32 weight of the row width");
  if (chain_on() && a.rows == 1) {  // the next product may stage it
    chain_->add_rmsnorm(a.data, b.data, sum_out.data, static_cast<const float*>(w.data), eps, a.cols, norm_out.data);
    return;
  }
  if (held_ && held_->out.data == b.data && a.rows == 1 && a.cols == held_->w.rows && a.cols <= kNormLinkMaxCols &&
      norm_out.data != sum_out.data) {  // (the consuming launch reads sum_out while its block 0 stores norm_out)
    // b's product, held for this: its tile ends form a + b and the tile sums (NormLink).
    const HeldProduct h = *held_;
    held_.reset();
    const int n_sums = static_cast<int>((h.w.rows + 15) / 16);
    auto* sums = static_cast<double*>(scratch(tile_sums_, static_cast<size_t>(n_sums) * sizeof(double)));
    const GemvTarget t{h.w.data, h.w.row_bytes(), h.w.rows, b.data, b.cols};
    NormLink produce;
    produce.residual = a.data;
    produce.sum_out = sum_out.data;
    produce.sums_out = sums;
    if (launch_gemv_f16_linked(h.w.type, &t, 1, h.w.cols, h.x.data, launching_product(&t, 1, false), produce)) {
      NormLink consume;
      consume.sums_in = sums;
      consume.gain = static_cast<const float*>(w.data);
      consume.out = norm_out.data;
      consume.n_sums = n_sums;
      consume.eps = eps;
      pending_norm_ = PendingNorm{sum_out.data, a.cols, consume};
      ++norm_links_;
      return;
    }
    product_declined();
    held_ = h;  // launched plainly by settle()
  }
  settle();
  launch_add_rmsnorm(a.data, b.data, sum_out.data, static_cast<const float*>(w.data), eps, a.rows, a.cols,
                     norm_out.data);
}

void CudaBackend::gate_up_swiglu(const Weight& w_gate, const Weight& w_up, Act x, Act gate, Act up, Act act,
                                 Route route) {
  // One token on the tensor-core route: one launch whose tile ends also store the SwiGLU
  // (the decode chain, when on, takes the three ops itself).
  const Product pg{&w_gate, gate}, pu{&w_up, up};
  std::optional<PendingNorm> norm = take_norm(x);  // staged by the launch where it can
  if (!chain_on() && x.rows == 1 && w_gate.type == w_up.type && w_gate.cols == w_up.cols && w_gate.rows == w_up.rows &&
      act.cols >= w_gate.rows && f16_gemv_product(pg, x, route) && f16_gemv_product(pu, x, route)) {
    settle();
    const GemvTarget tg{w_gate.data, w_gate.row_bytes(), w_gate.rows, gate.data, gate.cols};
    const GemvTarget tu{w_up.data, w_up.row_bytes(), w_up.rows, up.data, up.cols};
    const GemvTarget pair[] = {tg, tu};
    if (launch_gemv_f16_swiglu(w_gate.type, tg, tu, act.data, w_gate.cols, norm ? norm->src : x.data,
                               launching_product(pair, 2, true), norm ? norm->link : NormLink{}))
      return;
    product_declined();
  }
  if (norm) {  // not staged by a launch: on its own first (norm is only taken outside the decode chain)
    settle();
    materialize(norm);
  }
  Backend::gate_up_swiglu(w_gate, w_up, x, gate, up, act, route);
}

void CudaBackend::rope_qk_store(Act q, Act k, Act v, KvCache& cache, int layer, const int32_t* pos, int head_dim,
                                int rope_dim, const float* cos_sin) {
  settle();
  if (head_dim % 2 != 0 || k.cols != cache.kv_dim) {  // the fused kernel works on whole pairs of cache rows
    Backend::rope_qk_store(q, k, v, cache, layer, pos, head_dim, rope_dim, cos_sin);
    return;
  }
  const size_t n = static_cast<size_t>(q.rows) * static_cast<size_t>(rope_dim / 2) * 2;
  const auto* d_cs = static_cast<const float*>(input(cos_sin_, cos_sin, n * sizeof(float)));
  const auto* d_pos = static_cast<const int32_t*>(input(positions_, pos, static_cast<size_t>(q.rows) * sizeof(int32_t)));
  launch_rope_qk_store(q.data, k.data, v.data, q.rows, q.cols, cache.kv_dim, head_dim, rope_dim, d_cs, d_pos,
                       cache.k[layer], cache.v[layer], cache.type == TensorType::F16);
}

namespace {

// The segments of a decode attention over max_keys keys: count, keys each (0 = the kernel
// cuts each row's keys evenly) and the kernel that takes them. Decode: one query row per
// head leaves most of the GPU idle on a long cache, so the keys are cut into segments
// merged afterwards. One segment spans the whole cache, so that its launch does not change
// with the key count (a replayed step keeps its graph until the split changes); the kernel
// stops at each row's own key count.
struct DecodeSplit {
  int n_splits = 1;
  int64_t split_len = 0;
  SplitKernel kind = SplitKernel::Registers;
  bool operator!=(const DecodeSplit& o) const {
    return n_splits != o.n_splits || split_len != o.split_len || kind != o.kind;
  }
};
DecodeSplit decode_split(Route route, const AttentionArgs& a, int64_t n_ctx, int64_t max_keys, SplitKernel wanted) {
  DecodeSplit d;
  d.split_len = std::max(n_ctx, max_keys);
  d.kind = split_kernel_for(a, wanted, max_keys);
  int& n_splits = d.n_splits;
  int64_t& split_len = d.split_len;
  if (route == Route::Gemv && attention_even_segments(a)) {
    // The f16 kernel (one block per GQA group) splits caches of more than 128 keys into
    // segments of at least 64 keys, as many as keep its blocks in one wave (49 for the 8B
    // shape on 132 multiprocessors; the cluster launch's cap, 9 there), and cuts each row's
    // keys into even segments itself: once the cap is reached every step has the same
    // launch (one graph). Rounding the segments to 128 keys on the host had left 22
    // segments of 384 keys at 8200 keys (176 blocks); H100, tg128 @ d8192 296 -> 308-310
    // (d2048 +0.8%, d512 +1%). Splitting shorter caches for the cluster launch lost (H200,
    // tg128 473.5 -> 466-469 from 64 keys, 459-466 in segments of 32 keys from 32).
    if (max_keys > 128) {
      n_splits = static_cast<int>(std::min<int64_t>(attention_segments_in_one_wave(a, d.kind), (max_keys + 63) / 64));
      split_len = 0;
    }
  } else if (route == Route::Gemv && max_keys > 256) {
    // The other kernels (f32 cache, head sizes the f16 kernel does not take): segments of
    // whole 128-key blocks, at least 256 keys, at most 64 (the f32 results stay as they were).
    n_splits = static_cast<int>(std::min<int64_t>(64, (max_keys + 255) / 256));
    split_len = ((max_keys + n_splits - 1) / n_splits + 127) / 128 * 128;
    n_splits = static_cast<int>((max_keys + split_len - 1) / split_len);
  }
  return d;
}

}  // namespace

void CudaBackend::attention(Route route, Act q, const KvCache& cache, int layer, const int32_t* pos,
                            const AttentionShape& s, Act out, int kv_shift) {
  settle();
  require(s.head_dim <= 256 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0, "attention needs head_dim <= 256");
  AttentionArgs a;
  a.q = q.data;
  a.k_cache = cache.k[layer];
  a.v_cache = cache.v[layer];
  a.kv_f16 = cache.type == TensorType::F16;
  a.kv_dim = cache.kv_dim;
  a.n_ctx = cache.n_ctx;
  a.pos = static_cast<const int32_t*>(input(positions_, pos, static_cast<size_t>(q.rows) * sizeof(int32_t)));
  a.rows = q.rows;
  a.n_heads = s.n_heads;
  a.n_kv_heads = s.n_kv_heads;
  a.head_dim = s.head_dim;
  a.kv_shift = kv_shift;
  a.out = out.data;
  a.f16_operands = options_.tensor_cores && a.kv_f16;
  if (route == Route::Gemm && a.kv_f16 && options_.tensor_cores && flash_attention_supported(s.head_dim)) {
    launch_flash_attention(a);
    return;
  }
  int64_t max_keys = 0;
  for (int64_t i = 0; i < q.rows; ++i) max_keys = std::max<int64_t>(max_keys, int64_t{pos[i]} + 1);
  const SplitKernel wanted = !options_.attention_mma       ? SplitKernel::Registers
                             : options_.attention_cluster ? SplitKernel::Cluster
                                                          : SplitKernel::TensorCores;
  const DecodeSplit split = decode_split(route, a, cache.n_ctx, max_keys, wanted);
  const int n_splits = split.n_splits;
  // A replayed step keeps its graph while the split stays: say when the next key changes it.
  if (graphs_ && graphs_->active() && decode_split(route, a, cache.n_ctx, max_keys + 1, wanted) != split)
    graphs_->next_position_differs();
  float* partial = nullptr;
  if (attention_takes_partials(a, n_splits, split.split_len, split.kind))
    partial = static_cast<float*>(scratch(
        partial_, static_cast<size_t>(q.rows) * s.n_heads * n_splits * (s.head_dim + 2) * sizeof(float)));
  launch_attention(a, n_splits, split.split_len, partial, split.kind);
}

void CudaBackend::swiglu(Act gate, Act up, Act out) {
  if (chain_on() && gate.rows == 1) {  // the next product may stage it
    chain_->swiglu(gate.data, up.data, gate.cols, out.data);
    return;
  }
  settle();
  launch_swiglu(gate.data, up.data, gate.rows * gate.cols, out.data);
}

void CudaBackend::add(Act a, Act b, Act out) {
  settle();
  launch_add(a.data, b.data, a.rows * a.cols, out.data);
}

void CudaBackend::scale(Act x, float s) {
  settle();
  launch_scale(x.data, x.rows * x.cols, s);
}

void CudaBackend::copy(Act src, Act dst) {
  settle();
  if (src.data == dst.data || skip_while_recording()) return;
  check(cudaMemcpyAsync(dst.data, src.data, act_bytes(src.rows, src.cols), cudaMemcpyDeviceToDevice,
                        static_cast<cudaStream_t>(launch_queue().stream)),
        "copy");
}

void CudaBackend::synchronize() {
  settle();
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

int64_t CudaBackend::chain_launches() const { return chain_ ? chain_->launches() : 0; }

void CudaBackend::settle() {
  launch_held();
  std::optional<PendingNorm> norm;
  norm.swap(pending_norm_);
  materialize(norm);
  if (chain_) chain_->flush();
}

bool CudaBackend::norm_parts_on() const {
  return in_step_ && options_.norm_parts && !chain_ && sm_major_ >= 9;
}

std::optional<CudaBackend::PendingNorm> CudaBackend::take_norm(Act x) {
  std::optional<PendingNorm> norm;
  if (pending_norm_ && pending_norm_->link.out == x.data && x.rows == 1) norm.swap(pending_norm_);
  return norm;
}

void CudaBackend::materialize(std::optional<PendingNorm>& norm) {
  if (!norm) return;
  const NormLink& l = norm->link;
  launch_rmsnorm_from_tile_sums(norm->src, l.sums_in, l.n_sums, l.gain, l.eps, norm->cols, l.out);
  norm.reset();
}

void CudaBackend::launch_held() {
  if (!held_) return;
  const HeldProduct h = *held_;
  held_.reset();
  const GemvTarget t{h.w.data, h.w.row_bytes(), h.w.rows, h.out.data, h.out.cols};
  launch_gemv_f16_group(h.w.type, &t, 1, h.w.cols, h.x.data, h.x.cols, h.x.rows, launching_product(&t, 1, false));
}

bool CudaBackend::link_product(const Weight& w, Act x, Act out, Route route, std::optional<PendingNorm>& norm) {
  if (!norm_parts_on() || x.rows != 1 || !f16_gemv_product(Product{&w, out}, x, route)) return false;
  const GemvTarget t{w.data, w.row_bytes(), w.rows, out.data, out.cols};
  if (norm) {  // the consuming side: the product stages the pending row
    if (!launch_gemv_f16_linked(w.type, &t, 1, w.cols, norm->src, launching_product(&t, 1, false), norm->link)) {
      product_declined();
      return false;
    }
    norm.reset();
    return true;
  }
  held_ = HeldProduct{w, x, out};  // until the next op: an add_rmsnorm of `out` may take it
  return true;
}

const NextProduct* CudaBackend::launching_product(const GemvTarget* t, int n, bool pair) {
  if (!in_step_) return nullptr;
  NextProduct p;
  std::copy(t, t + n, p.t);
  p.n = n;
  p.pair = pair;
  return products_.launching(p);
}

void CudaBackend::product_declined() {
  if (in_step_) products_.not_launched();
}

bool CudaBackend::chain_products(const Product* products, int n, Act x, Route route) {
  if (!chain_on() || x.rows != 1 || n < 1 || n > 64) return false;
  // Grouped as matmuls groups them, each group one product of the chain; nothing is queued
  // unless every group can join.
  ChainProduct groups[kChainMaxProducts];
  int m = 0;
  bool all = true;
  for_each_gemv_group(
      products, n, [&](const Product& p) { return f16_gemv_product(p, x, route); },
      [&](const Weight& w, const GemvTarget* t, int count) {
        if (m == kChainMaxProducts) {
          all = false;
          return;
        }
        ChainProduct& g = groups[m++];
        g = ChainProduct{w.type, {}, count, w.cols, {}};
        std::copy(t, t + count, g.targets);
        all = all && decode_chain_supported(g.type, g.k) && decode_chain_fits(&g, 1);
      },
      [&](const Product&) { all = false; });
  if (!all) return false;
  chain_->products(groups, m, x.data);
  return true;
}

void CudaBackend::run_step(const StepInputs& in, const std::function<void()>& ops) {
  // The chain collects the step's products and launches them at the next op that cannot
  // join it, and at the step's end.
  const std::function<void()> step = [&] {
    settle();
    in_step_ = true;
    products_.step_started();
    try {
      ops();
    } catch (...) {
      in_step_ = false;
      held_.reset();  // a step that failed launches nothing more
      pending_norm_.reset();
      throw;
    }
    in_step_ = false;
    settle();
    products_.step_ended();
  };
  if (graphs_) graphs_->run(in, step);
  else step();
}

std::string CudaBackend::step_summary() const {
  return graphs_ ? graphs_->summary() : "CUDA graphs: off (each kernel launched on its own)";
}

int64_t CudaBackend::device_memory_in_use() const {
  size_t free_bytes = 0, total = 0;
  check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
  return static_cast<int64_t>(total - free_bytes);
}

}  // namespace greta::cuda
