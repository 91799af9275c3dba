#pragma once
// A small persistent thread pool for the CPU backend.
//
// Decode steps on small models are a few microseconds per op, so workers spin briefly on
// an atomic generation counter before sleeping (std::atomic::wait) rather than paying a
// condition-variable wake-up on every op.
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace greta::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs fn(thread_index, n_threads) on every thread (the caller is thread 0) and waits.
  void run(const std::function<void(int, int)>& fn);
  // Splits [0, n) into contiguous ranges, one per thread, each a multiple of `grain` except the last.
  // `work` estimates the total cost (e.g. multiply-adds): below kMinParallelWork the caller's
  // thread does it all, since waking another thread would cost more than it saves.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn,
                    int64_t work = INT64_MAX);
  static constexpr int64_t kMinParallelWork = 1 << 16;

 private:
  void worker(int index);
  int n_threads_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace greta::cpu
