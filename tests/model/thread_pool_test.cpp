// The CPU thread pool: every index runs exactly once, on any split, many times over.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "backend/cpu/thread_pool.h"

namespace greta::cpu {
namespace {

TEST(ThreadPool, EveryIndexRunsExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 15, 16, 17, 100, 1000, 128256})
      for (int64_t grain : {1, 4, 16, 1000}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e, int) {
          EXPECT_LT(b, e);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " grain " << grain;
      }
  }
}

TEST(ThreadPool, ChunksAreMultiplesOfTheGrain) {
  ThreadPool pool(2);
  pool.parallel_for(1000, 16, [&](int64_t b, int64_t e, int) {
    EXPECT_EQ(b % 16, 0);
    EXPECT_TRUE(e == 1000 || e % 16 == 0);
  });
}

TEST(ThreadPool, SmallWorkStaysOnTheCallingThread) {
  ThreadPool pool(2);
  std::atomic<int> other{0};
  pool.parallel_for(1000, 1, [&](int64_t, int64_t, int t) { other += t != 0; }, ThreadPool::kMinParallelWork - 1);
  EXPECT_EQ(other.load(), 0);
}

TEST(ThreadPool, ManyBackToBackJobs) {
  ThreadPool pool(2);
  int64_t total = 0;
  for (int job = 0; job < 20000; ++job) {
    std::atomic<int64_t> sum{0};
    pool.parallel_for(64, 1, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) sum += i;
    });
    total += sum.load();
  }
  EXPECT_EQ(total, int64_t{20000} * (63 * 64 / 2));
}

}  // namespace
}  // namespace greta::cpu
