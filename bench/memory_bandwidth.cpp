// Measures this machine's memory bandwidth: the physical floor for batch-1 decode, which
// must stream every weight byte once per token. Reads (sum) and copies (memcpy) a buffer
// far larger than the caches, with 1..N threads; prints GB/s (bytes moved / second).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

double run(int threads, size_t bytes, bool copy, std::vector<char>& a, std::vector<char>& b) {
  const size_t per = bytes / threads / 64 * 64;
  std::vector<std::thread> pool;
  std::vector<uint64_t> sums(threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      const char* src = a.data() + t * per;
      if (copy) {
        std::memcpy(b.data() + t * per, src, per);
      } else {
        const auto* p = reinterpret_cast<const uint64_t*>(src);
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < per / 8; i += 4) s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
        sums[t] = s0 + s1 + s2 + s3;
      }
    });
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile uint64_t sink = sums[0];
  (void)sink;
  return (copy ? 2.0 : 1.0) * per * threads / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t bytes = (argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024) << 20;  // MiB
  const int max_threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<char> a(bytes, 1), b(bytes, 0);
  std::printf("%-8s %8s %12s %12s\n", "threads", "MiB", "read GB/s", "copy GB/s");
  for (int t = 1; t <= max_threads; ++t) {
    double best_read = 0, best_copy = 0;
    for (int rep = 0; rep < 5; ++rep) {
      best_read = std::max(best_read, run(t, bytes, false, a, b));
      best_copy = std::max(best_copy, run(t, bytes, true, a, b));
    }
    std::printf("%-8d %8zu %12.1f %12.1f\n", t, bytes >> 20, best_read, best_copy);
  }
}
