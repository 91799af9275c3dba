#pragma once
// The interface between the model (what is computed) and a backend (how).
//
// The model code calls these ops stage by stage and never branches on the backend; a
// backend never knows the model. Activations are f32 matrices [rows][cols] that live
// where the backend keeps them (host memory for the CPU, device memory for a GPU);
// weights stay in their GGUF block format and are dequantized inside the kernels.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "greta/tensor_type.h"

namespace greta {

// Which kernel family computes an op: matrix-matrix (prefill) or matrix-vector (decode).
enum class Route { Gemm, Gemv };

// A row-major f32 activation matrix owned by a backend.
struct Act {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  Act first_rows(int64_t n) const { return {data, n, cols}; }
  float* row(int64_t r) const { return data + r * cols; }
};

// A weight matrix [rows = output features][cols = input features], rows contiguous.
struct Weight {
  TensorType type = TensorType::F32;
  const void* data = nullptr;  // where the backend reads it
  const void* host = nullptr;  // the same bytes on the host (for audits and faults)
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes() const { return greta::row_bytes(type, cols); }
};

// Per-layer key/value cache of one sequence: [n_ctx][kv_dim] rows per layer, each element
// of `type` (F32, or F16 where a backend offers it), in the backend's memory.
struct KvCache {
  int64_t n_ctx = 0;
  int64_t kv_dim = 0;
  TensorType type = TensorType::F32;
  std::vector<void*> k, v;  // one per layer
  float* k_f32(int layer) const { return static_cast<float*>(k[layer]); }
  float* v_f32(int layer) const { return static_cast<float*>(v[layer]); }
};

// How a route rounds the operands of its products before multiplying them, for the audit's
// budgets: the unit roundoff applied to each operand (0: exact f32 operands, the f32 contract).
struct RoutePrecision {
  double matmul_operand_unit = 0;     // each weight and each activation of a matrix product
  double attention_operand_unit = 0;      // each query element (q·k)
  double attention_probability_unit = 0;  // each probability in p·v (with attention_operand_unit > 0)
  // Unit roundoff of one addition in the f32 accumulations of those products: 2^-24 for
  // IEEE fused multiply-adds; tensor cores align the terms of their multi-term adds with
  // truncation, which a doubled unit covers.
  double accumulation_unit = 0x1.0p-24;
  // The f16 weights of matrix products are rounded from their rounded scale terms
  // (quant::dequantize_row_f16), not from the exact weight: each carries an extra error up
  // to (1 + u)·u·T (quant::weight_rounding_terms), u = matmul_operand_unit.
  bool matmul_weight_from_terms = false;
};

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
};

// The host inputs of one forward step, for a backend that replays steps: each row's token
// and position, and its RoPE row (cos_sin_cols floats: the cos/sin pairs passed to rope).
struct StepInputs {
  const int32_t* tokens = nullptr;
  const int32_t* pos = nullptr;
  const float* cos_sin = nullptr;
  int64_t rows = 0;
  int64_t cos_sin_cols = 0;
  // What the step writes that outlives it (the KV cache), or nullptr: a backend may start
  // a step like the previous one before checking it only when both write the same state.
  const void* state = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // A short description of each op's numeric contract, for audit budgets and docs.
  virtual std::string numeric_contract() const = 0;

  virtual Weight upload(TensorType type, const void* host, int64_t rows, int64_t cols) = 0;
  virtual Act alloc(int64_t rows, int64_t cols) = 0;
  virtual void release(Act a) = 0;
  // The KV cache (default: f32 rows from alloc()); read_cache returns rows [0, rows) of one
  // layer as f32, converted from the cache's element type.
  virtual KvCache alloc_cache(int64_t n_layers, int64_t n_ctx, int64_t kv_dim);
  virtual void free_cache(KvCache& cache);
  virtual void read_cache(const KvCache& cache, int layer, int64_t rows, float* k, float* v);
  // Operand rounding of a route (default: exact f32 operands).
  virtual RoutePrecision precision(Route) const { return {}; }
  virtual void to_host(Act src, int64_t first_row, int64_t n_rows, float* dst) = 0;
  // Host memory for what is read back every step (a decode step's logits). A backend may
  // give memory its copies reach directly (CUDA: page-locked, copied at full bus speed in
  // place of a staged copy through the driver); default: ordinary memory.
  virtual float* alloc_host(int64_t n) { return new float[static_cast<size_t>(n)]; }
  virtual void free_host(float* p) { delete[] p; }
  virtual void from_host(const float* src, Act dst, int64_t first_row, int64_t n_rows) = 0;

  // out[i] = table row tokens[i]
  virtual void embed(const Weight& table, const int32_t* tokens, int64_t n, Act out) = 0;
  // out = x / sqrt(mean(x^2) + eps) * w, per row
  virtual void rmsnorm(Act x, const Weight& w, float eps, Act out) = 0;
  // out[t] = W · x[t]
  virtual void matmul(const Weight& w, Act x, Act out, Route route) = 0;
  // Products that share their input (q, k, v; gate, up): out_i = W_i · x. A backend may run
  // them as one launch; the result must be the same bits as the separate matmuls.
  struct Product {
    const Weight* w;
    Act out;
  };
  virtual void matmuls(const Product* products, int n, Act x, Route route) {
    for (int i = 0; i < n; ++i) matmul(*products[i].w, x, products[i].out, route);
  }
  // Rotates pairs (2i, 2i+1) of every head of every row (llama.cpp's "normal" RoPE) by the
  // angle whose cosine and sine are cos_sin[row][i][0..1] (host memory, rope_dim/2 pairs per
  // row, computed once per forward); dimensions past rope_dim are untouched.
  virtual void rope(Act x, int head_dim, int rope_dim, const float* cos_sin) = 0;
  // Writes rows of k and v into the cache of `layer` at positions pos[i].
  virtual void kv_store(KvCache& cache, int layer, Act k, Act v, const int32_t* pos) = 0;
  // out[i] = softmax(q[i]·K[0..pos[i]] / sqrt(d)) · V for each head (GQA), reading the cache.
  // Route Gemm is the prefill kernel (many query rows), Gemv the decode kernel (one row).
  // kv_shift > 0 misaddresses the window by that many rows (fault injection only).
  virtual void attention(Route route, Act q, const KvCache& cache, int layer, const int32_t* pos,
                         const AttentionShape& shape, Act out, int kv_shift = 0) = 0;
  virtual void swiglu(Act gate, Act up, Act out) = 0;  // silu(gate) * up
  virtual void add(Act a, Act b, Act out) = 0;         // out = a + b
  virtual void scale(Act x, float s) = 0;             // x *= s
  virtual void copy(Act src, Act dst) = 0;

  // Fused pairs, for a forward that observes nothing between the two stages. A backend
  // may override them with one kernel; the result must be the same bits as the sequence.
  // sum_out = a + b, then norm_out = rmsnorm(sum_out).
  virtual void add_rmsnorm(Act a, Act b, Act sum_out, const Weight& w, float eps, Act norm_out) {
    add(a, b, sum_out);
    rmsnorm(sum_out, w, eps, norm_out);
  }
  // The gate and up products of x, then act = swiglu(gate, up).
  virtual void gate_up_swiglu(const Weight& w_gate, const Weight& w_up, Act x, Act gate, Act up, Act act, Route route) {
    const Product products[] = {{&w_gate, gate}, {&w_up, up}};
    matmuls(products, 2, x, route);
    swiglu(gate, up, act);
  }
  // rope(q), rope(k), then kv_store(k, v).
  virtual void rope_qk_store(Act q, Act k, Act v, KvCache& cache, int layer, const int32_t* pos, int head_dim,
                             int rope_dim, const float* cos_sin) {
    rope(q, head_dim, rope_dim, cos_sin);
    rope(k, head_dim, rope_dim, cos_sin);
    kv_store(cache, layer, k, v, pos);
  }
  virtual void synchronize() {}

  // Queues one forward step that nothing observes: `ops` calls ops of this backend only,
  // passes them host inputs only from `in` (the very pointers), and reads nothing back. A
  // backend may keep the work `ops` queues and replay it for later steps that queue the same
  // work with other input values (CUDA graphs: no launch per kernel); the result must be the
  // same bits as running `ops`, which is what the default does.
  virtual void run_step(const StepInputs& in, const std::function<void()>& ops) {
    (void)in;
    ops();
  }
  // One line on how steps ran (whether they were replayed), for benchmarks; empty if the
  // backend has nothing to say.
  virtual std::string step_summary() const { return {}; }
  // Prefill chunk (rows per forward step) that suits this backend: larger chunks spread
  // per-call costs (a GPU's weight conversion, launch latency) over more rows.
  virtual int64_t preferred_chunk_rows() const { return 512; }
  // Device memory in use on the backend's device (bytes; -1 for a backend without one).
  virtual int64_t device_memory_in_use() const { return -1; }
};

}  // namespace greta
