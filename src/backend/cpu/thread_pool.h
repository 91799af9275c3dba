#pragma once
// A small persistent thread pool for the CPU backend.
//
// Work is split into chunks that threads claim one at a time from a shared counter, so a
// thread the OS has not scheduled simply claims nothing: the others finish its share. That
// keeps a busy machine (other processes on our cores) from stalling every op on a
// descheduled worker. Decode ops on small models take microseconds, so idle workers spin
// briefly on an atomic generation counter before sleeping (std::atomic::wait).
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace greta::cpu {

class ThreadPool {
 public:
  using RangeFn = std::function<void(int64_t begin, int64_t end, int thread)>;

  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn over [0, n) in chunks of at least `grain` items (a multiple of it), claimed
  // by whichever threads are running, and waits. `work` estimates the total cost (e.g.
  // multiply-adds): below kMinParallelWork the caller's thread does it all, since waking
  // another thread would cost more than it saves.
  void parallel_for(int64_t n, int64_t grain, const RangeFn& fn, int64_t work = INT64_MAX);
  static constexpr int64_t kMinParallelWork = 1 << 16;

 private:
  void worker(int index);
  // Claims and runs chunks of job `gen` until none is left.
  void run_chunks(uint32_t gen, int thread);

  int n_threads_;
  std::vector<std::thread> threads_;
  // The current job. fn_, n_ and chunk_ are written only while no chunk can be claimed
  // (before the job is published, after all its chunks are done).
  const RangeFn* fn_ = nullptr;
  std::atomic<int64_t> n_{0}, chunk_{1}, chunks_{0};
  std::atomic<uint64_t> claim_{0};  // (generation << 32) | next chunk index
  std::atomic<int64_t> done_{0};    // chunks finished in the current job
  std::atomic<uint32_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace greta::cpu
