#include "backend/cuda/cuda_step_graphs.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

// Distinct steps kept instantiated. Decode moves through them in order (the attention
// split changes every 128 or 256 keys), so a few cover a run; more would only hold memory.
constexpr size_t kMaxGraphs = 8;
constexpr size_t kSlots = 4;

size_t aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Sets a flag for the length of a scope.
struct Raised {
  bool& flag;
  explicit Raised(bool& f) : flag(f) { flag = true; }
  ~Raised() { flag = false; }
};

}  // namespace

struct StepGraphs::Graph {
  std::vector<uint8_t> record;
  cudaGraphExec_t exec = nullptr;
};

// Pinned host memory holding one step's inputs until the copy to the device has run.
struct StepGraphs::Slot {
  void* host = nullptr;
  size_t bytes = 0;
  cudaEvent_t copied = nullptr;
  bool pending = false;
};

StepGraphs::StepGraphs() {
  cudaStream_t s = nullptr;
  // Non-blocking: the capture stream never waits on (or joins) the default stream.
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate (graph capture)");
  stream_ = s;
  for (size_t i = 0; i < kSlots; ++i) {
    auto slot = std::make_unique<Slot>();
    check(cudaEventCreateWithFlags(&slot->copied, cudaEventDisableTiming), "cudaEventCreate");
    slots_.push_back(std::move(slot));
  }
}

StepGraphs::~StepGraphs() {
  cudaDeviceSynchronize();
  for (auto& g : graphs_) cudaGraphExecDestroy(g->exec);
  for (auto& s : slots_) {
    if (s->host) cudaFreeHost(s->host);
    cudaEventDestroy(s->copied);
  }
  if (block_) cudaFree(block_);
  cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

void StepGraphs::layout(const StepInputs& in) {
  in_ = in;
  const size_t ids = static_cast<size_t>(in.rows) * sizeof(int32_t);
  pos_off_ = aligned(ids);
  cos_sin_off_ = pos_off_ + aligned(ids);
  block_bytes_ = cos_sin_off_ + static_cast<size_t>(in.rows * in.cos_sin_cols) * sizeof(float);
  if (block_bytes_ > block_capacity_) {
    // A new address changes every record that reads the block, so no kept graph matches.
    memory_changed();
    if (block_) check(cudaFree(block_), "cudaFree (step inputs)");
    block_ = nullptr;
    block_capacity_ = std::max<size_t>(block_bytes_, 4096);
    check(cudaMalloc(&block_, block_capacity_), "cudaMalloc (step inputs)");
  }
}

const void* StepGraphs::device_input(const void* host, size_t bytes) {
  auto* base = static_cast<const uint8_t*>(block_);
  const size_t ids = static_cast<size_t>(in_.rows) * sizeof(int32_t);
  if (host == in_.tokens && bytes <= ids) return base;
  if (host == in_.pos && bytes <= ids) return base + pos_off_;
  if (host == in_.cos_sin && bytes <= static_cast<size_t>(in_.rows * in_.cos_sin_cols) * sizeof(float))
    return base + cos_sin_off_;
  // Host memory the step did not declare: a graph could not see it change.
  if (!skip_while_recording()) throw std::logic_error("step graph: an undeclared host input while capturing");
  return nullptr;
}

void StepGraphs::stage_inputs(const StepInputs& in) {
  Slot& s = *slots_[next_slot_];
  next_slot_ = (next_slot_ + 1) % slots_.size();
  if (s.pending) {
    // Long done in a decode loop (its logits were read since); a wait only when the host
    // runs several steps ahead of the device.
    const cudaError_t e = cudaEventQuery(s.copied);
    if (e == cudaErrorNotReady) check(cudaEventSynchronize(s.copied), "step input slot");
    else check(e, "step input slot");
    s.pending = false;
  }
  if (block_bytes_ > s.bytes) {
    if (s.host) check(cudaFreeHost(s.host), "cudaFreeHost");
    s.host = nullptr;
    s.bytes = block_bytes_;
    check(cudaHostAlloc(&s.host, s.bytes, cudaHostAllocDefault), "cudaHostAlloc (step inputs)");
  }
  auto* h = static_cast<uint8_t*>(s.host);
  const size_t ids = static_cast<size_t>(in.rows) * sizeof(int32_t);
  std::memset(h, 0, block_bytes_);
  std::memcpy(h, in.tokens, ids);
  std::memcpy(h + pos_off_, in.pos, ids);
  std::memcpy(h + cos_sin_off_, in.cos_sin, static_cast<size_t>(in.rows * in.cos_sin_cols) * sizeof(float));
  // Stream order puts this copy after the previous step's graph, the last reader of the block.
  check(cudaMemcpyAsync(block_, s.host, block_bytes_, cudaMemcpyHostToDevice, nullptr), "step inputs");
  check(cudaEventRecord(s.copied, nullptr), "cudaEventRecord");
  s.pending = true;
}

StepGraphs::Graph* StepGraphs::find(const StepRecord& record) {
  for (size_t i = 0; i < graphs_.size(); ++i) {
    const auto& r = graphs_[i]->record;
    if (r.size() != record.size || std::memcmp(r.data(), record.buf.data(), r.size()) != 0) continue;
    std::rotate(graphs_.begin(), graphs_.begin() + static_cast<std::ptrdiff_t>(i),
                graphs_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    return graphs_.front().get();
  }
  return nullptr;
}

StepGraphs::Graph& StepGraphs::capture(const std::function<void()>& ops) {
  const auto t0 = std::chrono::steady_clock::now();
  auto stream = static_cast<cudaStream_t>(stream_);
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  cudaGraph_t graph = nullptr;
  try {
    Raised active(active_);
    QueueScope scope({stream_, nullptr});
    ops();
  } catch (...) {
    cudaStreamEndCapture(stream, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");

  // What the capture made of the chained launches: programmatic edges between kernels.
  size_t n_nodes = 0, n_edges = 0;
  check(cudaGraphGetNodes(graph, nullptr, &n_nodes), "cudaGraphGetNodes");
  check(cudaGraphGetEdges(graph, nullptr, nullptr, nullptr, &n_edges), "cudaGraphGetEdges");
  std::vector<cudaGraphNode_t> from(n_edges), to(n_edges);
  std::vector<cudaGraphEdgeData> data(n_edges);
  check(cudaGraphGetEdges(graph, from.data(), to.data(), data.data(), &n_edges), "cudaGraphGetEdges");
  last_nodes_ = n_nodes;
  last_edges_ = n_edges;
  last_programmatic_edges_ = static_cast<size_t>(std::count_if(
      data.begin(), data.end(), [](const cudaGraphEdgeData& d) { return d.type == cudaGraphDependencyTypeProgrammatic; }));

  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  check(made, "cudaGraphInstantiate");
  if (graphs_.size() >= kMaxGraphs) {
    // The oldest graph may still be queued: let the default stream drain before freeing it.
    check(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize");
    check(cudaGraphExecDestroy(graphs_.back()->exec), "cudaGraphExecDestroy");
    graphs_.pop_back();
  }
  auto g = std::make_unique<Graph>();
  g->record.assign(record_.buf.begin(), record_.buf.begin() + static_cast<std::ptrdiff_t>(record_.size));
  g->exec = exec;
  graphs_.insert(graphs_.begin(), std::move(g));
  ++captures_;
  capture_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return *graphs_.front();
}

StepGraphs::Graph* StepGraphs::early_graph(const StepInputs& in) const {
  if (!early_launch_ || graphs_.empty() || !sequence_.may_launch_early(in)) return nullptr;
  return graphs_.front().get();  // the last step's graph
}

void StepGraphs::record(const std::function<void()>& ops) {
  record_.clear();
  sequence_.record_started();
  Raised active(active_);
  QueueScope scope({nullptr, &record_});
  ops();
}

void StepGraphs::run(const StepInputs& in, const std::function<void()>& ops) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  layout(in);
  Graph* early = early_graph(in);
  sequence_.not_replayed();
  if (early) {
    stage_inputs(in);
    check(cudaGraphLaunch(early->exec, nullptr), "cudaGraphLaunch");
    ++early_;
  }
  const auto t1 = Clock::now();
  record(ops);
  const auto t2 = Clock::now();
  if (!record_.replayable) {
    early_missed_ += early != nullptr;
    ++direct_;
    ops();
    return;
  }
  Graph* g = find(record_);
  const bool replay = g != nullptr;
  if (!early || g != early) {
    early_missed_ += early != nullptr;
    stage_inputs(in);
    if (!g) g = &capture(ops);
    check(cudaGraphLaunch(g->exec, nullptr), "cudaGraphLaunch");
  }
  ++replays_;
  if (replay) {
    // The host's time before the GPU could start: the record and the match, or with an
    // early launch only what preceded it (the record then overlaps the step).
    ++timed_;
    record_seconds_ += std::chrono::duration<double>(t2 - t1).count();
    launch_seconds_ += std::chrono::duration<double>(early == g ? t1 - t0 : Clock::now() - t2).count();
  }
  sequence_.replayed(in);
}

std::string StepGraphs::summary() const {
  char b[512];
  std::snprintf(b, sizeof b,
                "CUDA graphs: on (%lld steps from graphs, %lld captures at %.2f ms each to capture and instantiate; "
                "last: %zu nodes, %zu of %zu edges programmatic; host time a replayed step: %.1f us to record, "
                "%.1f us before its launch; %lld launched before their record, %lld of them missed; %lld steps "
                "run directly)",
                static_cast<long long>(replays_), static_cast<long long>(captures_),
                captures_ ? 1e3 * capture_seconds_ / static_cast<double>(captures_) : 0.0, last_nodes_,
                last_programmatic_edges_, last_edges_, timed_ ? 1e6 * record_seconds_ / static_cast<double>(timed_) : 0.0,
                timed_ ? 1e6 * launch_seconds_ / static_cast<double>(timed_) : 0.0, static_cast<long long>(early_),
                static_cast<long long>(early_missed_), static_cast<long long>(direct_));
  return b;
}

}  // namespace greta::cuda
