#include "backend/cpu/thread_pool.h"

#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace greta::cpu {
namespace {

// Spins politely: mostly pause, but every 64th round yields the core, so that on a busy
// machine the thread we wait for can run here instead of us burning its time slice.
inline void spin_once(int round) {
  if ((round & 63) == 63) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__)
  _mm_pause();
#endif
}

constexpr int kSpinRounds = 4096;  // tens of µs of spinning before sleeping
constexpr int64_t kChunksPerThread = 8;  // enough chunks for balance, few enough to stay cheap

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run_chunks(uint32_t gen, int thread) {
  const int64_t chunks = chunks_.load(std::memory_order_acquire);
  uint64_t s = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(s >> 32) != gen || static_cast<int64_t>(s & 0xffffffffu) >= chunks) return;
    if (!claim_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) continue;
    // This chunk is ours: the job cannot finish (nor fn_ change) until we count it done.
    const int64_t c = static_cast<int64_t>(s & 0xffffffffu), step = chunk_.load(std::memory_order_relaxed);
    const int64_t n = n_.load(std::memory_order_relaxed);
    (*fn_)(c * step, std::min(n, (c + 1) * step), thread);
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) done_.notify_one();
    s = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = generation_.load(std::memory_order_acquire);
    for (int round = 0; g == seen && round < kSpinRounds; ++round) {
      spin_once(round);
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = g;
    if (stop_.load()) return;
    run_chunks(g, index);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const RangeFn& fn, int64_t work) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || work < kMinParallelWork || n <= grain) {
    fn(0, n, 0);
    return;
  }
  // Chunks: multiples of grain, about kChunksPerThread per thread.
  const int64_t target = (n + n_threads_ * kChunksPerThread - 1) / (n_threads_ * kChunksPerThread);
  const int64_t step = std::max(grain, (target + grain - 1) / grain * grain);
  const int64_t chunks = (n + step - 1) / step;
  fn_ = &fn;
  n_.store(n, std::memory_order_relaxed);
  chunk_.store(step, std::memory_order_relaxed);
  chunks_.store(chunks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t gen = generation_.load(std::memory_order_relaxed) + 1;
  claim_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
  generation_.store(gen, std::memory_order_release);
  generation_.notify_all();
  run_chunks(gen, 0);
  int64_t d = done_.load(std::memory_order_acquire);
  for (int round = 0; d != chunks && round < kSpinRounds; ++round) {
    spin_once(round);
    d = done_.load(std::memory_order_acquire);
  }
  while (d != chunks) {
    done_.wait(d, std::memory_order_acquire);
    d = done_.load(std::memory_order_acquire);
  }
}

}  // namespace greta::cpu
