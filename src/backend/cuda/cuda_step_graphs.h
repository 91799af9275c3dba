#pragma once
// Forward steps replayed as CUDA graphs (CudaBackend::run_step).
//
// A step is first run as a record (cuda_step_record.h: every launch's bytes, nothing
// queued). Its host inputs (tokens, positions, the RoPE rows) are read by the kernels from
// one device block at fixed addresses, which a single copy from pinned memory fills before
// each launch, so the record does not change from token to token; what does change it (the
// attention split at a new key count, another cache or buffer) gets a graph of its own. A
// record seen before replays its graph; a new one is captured from a stream, instantiated
// and kept (the few most recent).
//
// A decode loop's next step is almost always the last one again, one position on. Such a
// step is launched before its record is made (the host's record pass then overlaps the
// GPU's work instead of delaying it) when nothing it depends on can have changed: the same
// state (KV cache), no device memory allocated or freed since, the position one past the
// last, and the last record said that the next position launches the same (the attention
// split). The record made after the launch is still compared with the launched graph's;
// if they differ the right graph runs after it. Both write the same buffers and cache
// rows, so the right one's results stand (counted as a missed early launch: a one-row
// prefill between decode steps costs two, a decode loop none). Plain C++: no CUDA types
// here.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_step_record.h"
#include "backend/cuda/cuda_step_sequence.h"
#include "model/backend.h"

namespace greta::cuda {

class StepGraphs {
 public:
  StepGraphs();
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  // Queues the step that `ops` describes: as a graph when it can be replayed, else by
  // running `ops` as it is.
  void run(const StepInputs& in, const std::function<void()>& ops);

  // While `ops` is recorded or captured: the device address of host input `host` (one of
  // the step's arrays, `bytes` of it), or nullptr (and the step is not replayable) for any
  // other host memory.
  bool active() const { return active_; }
  const void* device_input(const void* host, size_t bytes);
  // While `ops` is recorded: the step one position on would launch differently.
  void next_position_differs() { sequence_.next_position_differs(); }
  // Device memory was allocated or freed: kept graphs may point at freed memory (they no
  // longer match any record), so the next step is not launched before its record.
  void memory_changed() { sequence_.memory_changed(); }
  // Launching a step before its record (on by default).
  void set_early_launch(bool on) { early_launch_ = on; }

  // "CUDA graphs: ..." with the counts below, for benchmarks.
  std::string summary() const;
  int64_t replays() const { return replays_; }
  int64_t captures() const { return captures_; }
  int64_t direct_steps() const { return direct_; }
  size_t programmatic_edges() const { return last_programmatic_edges_; }  // in the last capture
  int64_t early_launches() const { return early_; }  // steps launched before their record
  int64_t early_misses() const { return early_missed_; }  // of those, ones whose record differed

 private:
  struct Graph;
  struct Slot;
  void layout(const StepInputs& in);
  void stage_inputs(const StepInputs& in);
  Graph* find(const StepRecord& record);
  Graph& capture(const std::function<void()>& ops);
  // The graph to launch before recording this step, or nullptr.
  Graph* early_graph(const StepInputs& in) const;
  void record(const std::function<void()>& ops);

  bool active_ = false;
  StepInputs in_;
  size_t pos_off_ = 0, cos_sin_off_ = 0, block_bytes_ = 0;
  void* block_ = nullptr;     // device: tokens | positions | RoPE rows
  size_t block_capacity_ = 0;
  std::vector<std::unique_ptr<Slot>> slots_;  // pinned copies of the block, used in turn
  size_t next_slot_ = 0;
  void* stream_ = nullptr;    // cudaStream_t the graphs are captured from
  StepRecord record_;
  std::vector<std::unique_ptr<Graph>> graphs_;  // most recently used first
  int64_t replays_ = 0, captures_ = 0, direct_ = 0, early_ = 0, early_missed_ = 0;
  // The last replayed step (its graph is the front of graphs_) and what came after it.
  StepSequence sequence_;
  bool early_launch_ = true;
  double capture_seconds_ = 0;
  int64_t timed_ = 0;  // replays of a kept graph, and the host time they took
  double record_seconds_ = 0, launch_seconds_ = 0;
  size_t last_nodes_ = 0, last_programmatic_edges_ = 0, last_edges_ = 0;
};

}  // namespace greta::cuda
