#pragma once
// The Llama forward, written once against the Backend interface.
//
// forward() runs a batch of rows (token, position) of one sequence through every layer,
// calling the probe after each stage (DESIGN §3) and applying injected faults inside the
// ops they name. Which kernels run is chosen per path: by default the prefill path uses
// the matrix-matrix route and the decode path the matrix-vector route; either can be
// forced to the other (route forcing, DESIGN §6).
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "model/backend.h"
#include "model/fault.h"
#include "model/llama_config.h"
#include "model/llama_weights.h"
#include "trace/probe.h"

namespace greta {

struct RouteConfig {
  Route prefill = Route::Gemm;
  Route decode = Route::Gemv;
  Route for_path(Path p) const { return p == Path::Prefill ? prefill : decode; }
};

enum class LogitsRows { None, Last, All };

class LlamaModel {
 public:
  // Takes ownership of the file (its mapping backs the CPU weights).
  LlamaModel(gguf::GgufFile file, Backend& backend);
  ~LlamaModel();

  const LlamaConfig& config() const { return config_; }
  const LlamaWeights& weights() const { return weights_; }
  const gguf::GgufFile& file() const { return file_; }
  Backend& backend() const { return backend_; }

  KvCache make_cache(int64_t n_ctx) const;
  void free_cache(KvCache& cache) const;

  struct Hooks {
    trace::Probe* probe = nullptr;
    const FaultSet* faults = nullptr;
    RouteConfig routes;
  };

  // Runs n rows (tokens[i] at position pos[i]); writes n_vocab logits per requested row to
  // `logits` (host memory: 1 row for Last, n rows for All). Positions must be < cache.n_ctx.
  void forward(KvCache& cache, const int32_t* tokens, const int32_t* pos, int64_t n, Path path,
               LogitsRows want, float* logits, const Hooks& hooks);

  // Checks that each fault fits this model (dimensions for `skip`, layers); InputError if not.
  void validate_faults(const FaultSet& faults) const;

  // Largest number of rows one internal step (prefill chunk) processes; longer batches are
  // split, so activation memory is bounded by the chunk, not the prompt. The default is
  // the backend's preferred_chunk_rows().
  int64_t chunk_rows() const { return chunk_rows_; }
  void set_chunk_rows(int64_t rows);

 private:
  struct Buffers;
  void forward_step(KvCache& cache, const int32_t* tokens, const int32_t* pos, int64_t n, Path path,
                    LogitsRows want, float* logits, const Hooks& hooks);
  void observe(const Hooks& h, trace::Point p, int layer, Act a, const int32_t* pos) const;
  // Runs one stage: op(input) writes `out`; applies a fault injected there, then the probe.
  template <class Op>
  void stage(const Hooks& h, Path path, trace::Point p, int layer, Act in, Act out, const int32_t* pos, Op op);
  void matmul_stage(const Hooks& h, Path path, trace::Point p, int layer, const Weight& w, Act x, Act out,
                    const int32_t* pos);
  void apply_output_fault(const Fault& f, Act in, Act out, const int32_t* pos);
  void ensure_buffers(int64_t rows, int64_t logits_rows);
  void rope_table(const int32_t* pos, int64_t n, int32_t shift, std::vector<float>& table) const;
  void rotate_input(const Fault& f, Act in, Act scratch);
  void transposed_matmul(const Weight& w, Act x, Act out);

  gguf::GgufFile file_;
  Backend& backend_;
  LlamaConfig config_;
  LlamaWeights weights_;
  std::vector<float> rope_freqs_;
  std::unique_ptr<Buffers> buf_;
  int64_t chunk_rows_ = 0;
};

}  // namespace greta
