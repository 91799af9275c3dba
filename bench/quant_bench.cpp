// Kernel throughput on this CPU: dot_rows (the decode route) in GB/s of weights read,
// dequantize_row in GB/s of weights read, gemm_f32 (the prefill microkernel) in GFLOP/s.
// Usage: quant_bench [--threads N] [--isa scalar|avx2|avx512] [--rows R] [--cols K] [--type q4_K]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "greta/tensor_type.h"
#include "quant/quant.h"

using namespace greta;
using namespace greta::quant;

namespace {

using Clock = std::chrono::steady_clock;

// Best of several timed repetitions, each long enough to be measured reliably.
template <class Fn>
double best_seconds(Fn&& fn, double min_total = 0.5) {
  fn();  // warm up
  double best = 1e30, total = 0;
  int reps = 0;
  while (total < min_total || reps < 3) {
    const auto t0 = Clock::now();
    fn();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
    ++reps;
  }
  return best;
}

// Runs fn(begin, end) over [0, n) split into `threads` contiguous parts.
template <class Fn>
void parallel_for(int threads, int64_t n, Fn&& fn) {
  if (threads <= 1) return fn(int64_t{0}, n);
  std::vector<std::thread> pool;
  const int64_t per = (n + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    const int64_t b = std::min(n, t * per), e = std::min(n, b + per);
    pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  int64_t rows = 4096, cols = 4096;
  Isa isa = best_isa();
  std::string only_type;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--rows" && i + 1 < argc) rows = std::atoll(argv[++i]);
    else if (a == "--cols" && i + 1 < argc) cols = std::atoll(argv[++i]);
    else if (a == "--type" && i + 1 < argc) only_type = argv[++i];
    else if (a == "--isa" && i + 1 < argc) {
      const std::string v = argv[++i];
      isa = v == "scalar" ? Isa::Scalar : v == "avx2" ? Isa::Avx2 : Isa::Avx512;
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--isa scalar|avx2|avx512] [--rows R] [--cols K] [--type q4_K]\n", argv[0]);
      return 2;
    }
  }
  set_active_isa(isa);
  std::printf("isa %s (best %s), threads %d, matrix %lld x %lld\n", isa_name(active_isa()), isa_name(best_isa()),
              threads, static_cast<long long>(rows), static_cast<long long>(cols));

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> src(static_cast<size_t>(rows * cols));
  for (auto& v : src) v = dist(rng);
  std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
  for (auto& v : x) v = dist(rng);

  // Read bandwidth floor: the same bytes as the f32 matrix, summed with plain loads.
  {
    std::vector<float> dst(src.size());
    const double s = best_seconds([&] { std::memcpy(dst.data(), src.data(), src.size() * 4); });
    std::printf("%-8s %8.2f GB/s  (memcpy, read+write %.0f MB)\n", "memcpy", 2.0 * src.size() * 4 / s * 1e-9,
                src.size() * 4 * 1e-6);
  }

  std::printf("\n%-6s %10s %12s %14s %14s\n", "type", "MB", "dot_rows", "Gweights/s", "dequant GB/s");
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                          TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    if (!only_type.empty() && type_traits(type).name != only_type) continue;
    const int64_t rb = row_bytes(type, cols);
    std::vector<uint8_t> w(static_cast<size_t>(rb * rows));
    for (int64_t r = 0; r < rows; ++r) quantize_row(type, src.data() + r * cols, w.data() + r * rb, cols);
    const double s = best_seconds([&] {
      parallel_for(threads, rows, [&](int64_t b, int64_t e) {
        dot_rows(type, w.data() + b * rb, rb, e - b, x.data(), cols, y.data() + b);
      });
    });
    std::vector<float> scratch(static_cast<size_t>(cols) * 64);
    // Dequantize 64-row tiles into scratch, as the prefill route does.
    const double sd = best_seconds([&] {
      parallel_for(threads, rows, [&](int64_t b, int64_t e) {
        std::vector<float> local(static_cast<size_t>(cols));
        for (int64_t r = b; r < e; ++r) dequantize_row(type, w.data() + r * rb, local.data(), cols);
      });
    });
    const double bytes = static_cast<double>(rb) * rows;
    std::printf("%-6s %10.1f %9.2f GB/s %14.2f %14.2f\n", std::string(type_traits(type).name).c_str(), bytes * 1e-6,
                bytes / s * 1e-9, static_cast<double>(rows) * cols / s * 1e-9, bytes / sd * 1e-9);
  }

  // gemm_f32 over a weight tile that fits in L2, against a batch of tokens.
  std::printf("\n%-24s %12s\n", "gemm_f32 (rows x tokens x k)", "GFLOP/s");
  for (auto [m, t, k] : {std::tuple<int64_t, int64_t, int64_t>{64, 64, 4096}, {128, 32, 2048}, {256, 512, 256}}) {
    std::vector<float> wt(static_cast<size_t>(m * k)), xt(static_cast<size_t>(t * k)), yt(static_cast<size_t>(t * m));
    for (auto& v : wt) v = dist(rng);
    for (auto& v : xt) v = dist(rng);
    const double s = best_seconds([&] {
      parallel_for(threads, t, [&](int64_t b, int64_t e) {
        gemm_f32(wt.data(), k, m, xt.data() + b * k, k, e - b, k, yt.data() + b * m, m);
      });
    });
    char label[64];
    std::snprintf(label, sizeof label, "%lld x %lld x %lld", static_cast<long long>(m), static_cast<long long>(t),
                  static_cast<long long>(k));
    std::printf("%-28s %8.1f\n", label, 2.0 * m * t * k / s * 1e-9);
  }
  return 0;
}
