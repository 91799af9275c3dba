#pragma once
// Synthetic Llama models: GGUF files with llama.cpp's tensor names, shapes, metadata and
// type mixes, filled with deterministic random weights. They stand in for real models of
// any size in tests and benchmarks (`greta synth`), and provide the built-in model.
//
// A typical use (what `greta synth` does):
//   SynthOptions o;
//   o.shape = preset("llama3-8b");           // or parse_shape("vocab,dim,...")
//   o.type = WeightType::parse("q4_k_m");
//   o.type_for.insert(parse_type_override("attn_k=q5_k"));
//   SynthSummary s = write_synth_model(o, "out.gguf", ProgressBar{});
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"
#include "synth/progress_bar.h"
#include "synth/synth_shape.h"
#include "synth/tensor_plan.h"
#include "synth/weight_gen.h"

namespace greta::synth {

struct SynthOptions {
  SynthShape shape;
  WeightType type;                              // --type
  std::map<TensorRole, TensorType> type_for;    // --type-for ROLE=TYPE overrides
  uint64_t seed = 1;
  bool tied = false;                            // no output.weight; token_embd is reused
  std::string vocab_path;                       // --vocab; empty: tokenizer.ggml.model "no_vocab"
  std::string name;                             // general.name; empty: derived from shape and type
  int threads = 0;                              // 0: one per hardware thread (never changes the bytes)
  float weight_stddev = 0.03f;                  // of every weight matrix
};

// The tensors of the file for options.shape as given (build_writer first replaces the
// vocabulary size with that of options.vocab_path, when set).
std::vector<PlannedTensor> plan_tensors(const SynthOptions& options);

// A writer holding the full metadata and every tensor, each with a Fill callback that
// generates its weights when the file is written. Throws InputError on bad options.
gguf::GgufWriter build_writer(const SynthOptions& options);

struct SynthSummary {
  int64_t n_tensors = 0;
  int64_t n_params = 0;
  uint64_t weight_bytes = 0;  // sum of tensor sizes, without padding
  uint64_t file_bytes = 0;
  double seconds = 0.0;       // wall time of the write
};

// Totals of a plan, without writing anything.
SynthSummary summarize(const std::vector<PlannedTensor>& plan);

// The lower-level pieces build_writer is made of, for models with special needs (the
// built-in model): the general.* and llama.* metadata for a shape, and the tensors of a
// plan with generated weights. `adjust_for` may return a per-row adjustment for a tensor.
void add_llama_metadata(gguf::GgufWriter& w, const SynthShape& shape, const WeightType& type,
                        const std::string& name, bool quantized);
using AdjustFor = std::function<RowAdjust(const PlannedTensor&)>;
void add_synth_tensors(gguf::GgufWriter& w, const std::vector<PlannedTensor>& plan, uint64_t seed,
                       float weight_stddev, int threads, const AdjustFor& adjust_for = {});

// build_writer + write_file (atomically: a temporary file renamed into place).
SynthSummary write_synth_model(const SynthOptions& options, const std::string& path,
                               const gguf::GgufWriter::Progress& progress = {});

}  // namespace greta::synth
