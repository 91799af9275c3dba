#pragma once
// The CUDA backend: weights uploaded once in their GGUF block formats and dequantized
// inside the kernels, f32 activations and KV cache in device memory, every op a kernel on
// the default stream; one-row steps that nothing observes replay as CUDA graphs. This header is plain C++ so that code outside src/backend/cuda/
// can create the backend without CUDA headers.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/cuda/cuda_product_sequence.h"
#include "model/backend.h"

namespace greta::cuda {

// Number of CUDA devices the runtime sees (0 when there is no driver or no device).
int device_count();

// How the backend trades exactness for speed. The defaults are the fast setting: prefill
// products on tensor cores with f16 operands, an f16 KV cache and flash-attention prefill.
// {false, F32} is the exact f32 contract (every product of exact weights and f32
// activations, f32 cache), the setting for audits that want the tightest budgets.
struct CudaOptions {
  bool tensor_cores = true;              // Route::Gemm matmul and attention on tensor cores (f16 operands)
  TensorType kv_type = TensorType::F16;  // F16 or F32
  bool graphs = true;                    // run_step replays steps as CUDA graphs (same bits either way)
  // With graphs: a decode step like the last one (one position on, same cache) is launched
  // before its record is made and checked, so that the record overlaps the GPU's work.
  bool early_launch = true;
  // run_step runs the one-token products between two attentions, with the add + rmsnorm
  // and SwiGLU between them, as one decode chain launch (sm_90; same bits either way).
  // Off by default: slower so far (cuda_decode_chain.cu).
  bool chain = false;
  // Split decode attention in the fast precision streams each segment's cache rows into
  // shared memory with bulk tensor copies and multiplies on the tensor cores (sm_90,
  // head_dim 64 or 128; cuda_attention.cu). Off: the register kernel (the same sums in
  // another order), for comparisons.
  bool attention_mma = true;
  // Those tensor-core split launches with each (row, GQA group)'s segments as one
  // cluster's blocks, which merge them without a combine pass (at most 16 segments, where
  // the device keeps every cluster resident at once). Off: segments merged by a combine
  // launch, for comparisons.
  bool attention_cluster = true;
  // Inside run_step, the add + rmsnorm between two one-token products on the streamed
  // kernel is split over them (NormLink in cuda_ops.h: the first adds the residual and
  // sums each tile's squares at its tile ends, the next normalizes while it stages its
  // input), so no kernel of its own sits between them. Off: the add + rmsnorm kernel, for
  // comparisons (the rows are the same but for the order of the squares' double sum).
  bool norm_parts = true;
};

class StepGraphs;
class ChainQueue;
class Timeline;

class CudaBackend final : public Backend {
 public:
  // Uses device `device`; InputError if there is no CUDA device.
  explicit CudaBackend(int device = 0, CudaOptions options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override;
  std::string numeric_contract() const override;

  Weight upload(TensorType type, const void* host, int64_t rows, int64_t cols) override;
  Act alloc(int64_t rows, int64_t cols) override;
  void release(Act a) override;
  KvCache alloc_cache(int64_t n_layers, int64_t n_ctx, int64_t kv_dim) override;
  void free_cache(KvCache& cache) override;
  void read_cache(const KvCache& cache, int layer, int64_t rows, float* k, float* v) override;
  RoutePrecision precision(Route route) const override;
  const CudaOptions& options() const { return options_; }
  void to_host(Act src, int64_t first_row, int64_t n_rows, float* dst) override;
  float* alloc_host(int64_t n) override;
  void free_host(float* p) override;
  void from_host(const float* src, Act dst, int64_t first_row, int64_t n_rows) override;

  void embed(const Weight& table, const int32_t* tokens, int64_t n, Act out) override;
  void rmsnorm(Act x, const Weight& w, float eps, Act out) override;
  void matmul(const Weight& w, Act x, Act out, Route route) override;
  void matmuls(const Product* products, int n, Act x, Route route) override;
  void rope(Act x, int head_dim, int rope_dim, const float* cos_sin) override;
  void kv_store(KvCache& cache, int layer, Act k, Act v, const int32_t* pos) override;
  void attention(Route route, Act q, const KvCache& cache, int layer, const int32_t* pos,
                 const AttentionShape& shape, Act out, int kv_shift) override;
  void swiglu(Act gate, Act up, Act out) override;
  void add(Act a, Act b, Act out) override;
  void scale(Act x, float s) override;
  void copy(Act src, Act dst) override;
  void add_rmsnorm(Act a, Act b, Act sum_out, const Weight& w, float eps, Act norm_out) override;
  void rope_qk_store(Act q, Act k, Act v, KvCache& cache, int layer, const int32_t* pos, int head_dim, int rope_dim,
                     const float* cos_sin) override;
  void gate_up_swiglu(const Weight& w_gate, const Weight& w_up, Act x, Act gate, Act up, Act act, Route route) override;
  void synchronize() override;
  void run_step(const StepInputs& in, const std::function<void()>& ops) override;
  std::string step_summary() const override;
  // The graphs of run_step (nullptr with options().graphs off), for tests.
  const StepGraphs* step_graphs() const { return graphs_.get(); }
  // Decode chains launched or recorded so far (0 without them), for tests.
  int64_t chain_launches() const;
  // Add + rmsnorms split over two products (NormLink) so far, launched or recorded, for tests.
  int64_t norm_links() const { return norm_links_; }
  int64_t device_memory_in_use() const override;
  // Tensor-core prefill converts each weight matrix per call: 2048-row chunks spread that.
  int64_t preferred_chunk_rows() const override { return options_.tensor_cores ? 2048 : 512; }

 private:
  bool f16_gemv(const Weight& w, Act x, Route route) const;
  // f16_gemv, and the product's shapes fit x and its output (a product matmuls may group).
  bool f16_gemv_product(const Product& p, Act x, Route route) const;
  // Inside run_step: queues one-token products on the decode chain (false: they cannot
  // join one, and nothing was queued).
  bool chain_products(const Product* products, int n, Act x, Route route);
  // Launches whatever the chain holds; every op that does not join the chain calls it first.
  void settle();
  // Every allocation and free of device memory calls it (kept step graphs may point at
  // freed memory: StepGraphs then launches no step before its record).
  void memory_changed();
  // A device buffer reused across calls, grown on demand (small per-call inputs: token
  // ids, positions, the RoPE table, attention partials), with the bytes last uploaded
  // into it so that an identical upload (the same positions for kv_store and attention,
  // the same RoPE table for q and k of every layer) is skipped.
  struct Scratch {
    void* ptr = nullptr;
    size_t bytes = 0;
    std::vector<uint8_t> last;
  };
  void* scratch(Scratch& s, size_t bytes);
  // Copies `bytes` of host memory into a scratch buffer (unless it already holds them)
  // and returns its device address. The copy goes through pinned staging memory, so it is
  // truly asynchronous: a copy from pageable memory would wait for the GPU to drain.
  const void* upload_small(Scratch& s, const void* host, size_t bytes);
  // A host input of an op on the device: while run_step records or captures a step, its
  // fixed address in the step's input block; otherwise upload_small.
  const void* input(Scratch& s, const void* host, size_t bytes);

  // Pinned host staging buffers, used round-robin; each slot's event marks when the GPU
  // has read it, so the slot is refilled only after that.
  struct Stage {
    void* host = nullptr;
    size_t bytes = 0;
    void* done = nullptr;  // cudaEvent_t
  };
  std::array<Stage, 8> stages_;
  size_t next_stage_ = 0;

  int device_ = 0;
  CudaOptions options_;
  std::string device_name_;
  int sm_major_ = 0, sm_minor_ = 0;
  std::vector<void*> weights_;  // freed with the backend
  Scratch tokens_, positions_, cos_sin_, partial_;
  std::unique_ptr<StepGraphs> graphs_;
  std::unique_ptr<ChainQueue> chain_;  // sm_90 with tensor cores and options.chain
  ProductSequence products_;  // the one-token products of run_step's steps, in launch order
  std::unique_ptr<Timeline> timeline_;  // builds with GRETA_CUDA_TIMELINE only
  unsigned* chain_counters_ = nullptr;
  bool in_step_ = false;  // inside run_step
  // Inside run_step with the decode chain: one-token products and row ops go to the chain.
  bool chain_on() const { return in_step_ && chain_ != nullptr; }
  // Inside run_step, before launching a one-token product: notes it and returns the product
  // expected after it (nullptr outside run_step). product_declined: that launch did not happen.
  const NextProduct* launching_product(const GemvTarget* t, int n, bool pair);
  void product_declined();
  // NormLink inside run_step: a one-token product held back until the next op shows
  // whether an add_rmsnorm of its output follows (then it launches as the producing side),
  // and the normalized row that such a launch left for the next product to stage (its
  // consuming side). settle() launches a held product plainly and a pending row on its own.
  struct HeldProduct {
    Weight w;
    Act x, out;
  };
  struct PendingNorm {
    const float* src;  // a + b
    int64_t cols;
    NormLink link;     // the consuming side
  };
  std::optional<HeldProduct> held_;
  std::optional<PendingNorm> pending_norm_;
  Scratch tile_sums_;  // the producing side's tile sums (one row's: at most 256 doubles)
  int64_t norm_links_ = 0;
  bool norm_parts_on() const;
  // Holds a one-token product for a NormLink (true), or launches it as the consuming side
  // of the pending row `norm` (true), or neither (false: nothing launched).
  bool link_product(const Weight& w, Act x, Act out, Route route, std::optional<PendingNorm>& norm);
  // The pending row if x is it (taken: launched as a consuming side or materialized by the caller).
  std::optional<PendingNorm> take_norm(Act x);
  void materialize(std::optional<PendingNorm>& norm);
  void launch_held();
  Scratch w16_, x16_;  // f16 operands of the tensor-core matmul (weights dequantized per call)
  Scratch chain_silu_;  // silu(gate) of a decode chain's SwiGLU
  // Rows up to which a Route::Gemm product runs the GEMV kernel (a logits row): converting
  // a whole matrix to f16 for one row costs more than reading it once.
  static constexpr int64_t kGemvRowsInGemmRoute = 8;
};

}  // namespace greta::cuda
