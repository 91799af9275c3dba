#include "synth/weight_gen.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <thread>
#include <vector>

#include "quant/quant.h"
#include "sampling/rng.h"

namespace greta::synth {

uint64_t tensor_seed(uint64_t model_seed, uint64_t tensor_index) {
  uint64_t s = model_seed ^ (tensor_index * 0xD1B54A32D192ED03ull);
  return sampling::splitmix64_next(s);
}

void generate_row(uint64_t seed, int64_t row, const WeightDistribution& dist, float* out, int64_t n) {
  sampling::Xoshiro256 rng(seed ^ (static_cast<uint64_t>(row) * 0x9E3779B97F4A7C15ull));
  // A signed 32-bit integer scaled by 2^-31 is uniform in [-1, 1); variance 1/3.
  const float scale = dist.stddev * std::sqrt(3.0f) * 0x1.0p-31f;
  int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    const uint64_t r = rng.next();
    out[i] = dist.mean + static_cast<float>(static_cast<int32_t>(static_cast<uint32_t>(r))) * scale;
    out[i + 1] = dist.mean + static_cast<float>(static_cast<int32_t>(static_cast<uint32_t>(r >> 32))) * scale;
  }
  if (i < n) out[i] = dist.mean + static_cast<float>(static_cast<int32_t>(static_cast<uint32_t>(rng.next()))) * scale;
}

void fill_tensor(std::span<uint8_t> dst, TensorType type, int64_t row_len, int64_t n_rows, uint64_t seed,
                 const WeightDistribution& dist, int n_threads, const RowAdjust& adjust) {
  const int64_t rb = row_bytes(type, row_len);
  if (static_cast<int64_t>(dst.size()) != rb * n_rows) throw std::logic_error("fill_tensor: destination size mismatch");

  auto work = [&](int64_t begin, int64_t end) {
    std::vector<float> values(static_cast<size_t>(row_len));
    for (int64_t r = begin; r < end; ++r) {
      generate_row(seed, r, dist, values.data(), row_len);
      if (adjust) adjust(r, values.data(), row_len);
      quant::quantize_row(type, values.data(), dst.data() + r * rb, row_len);  // f32/f16/bf16 too
    }
  };

  // Threads only pay off for tensors with real work; norms and small matrices run inline.
  int threads = n_threads > 0 ? n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t min_elements_per_thread = int64_t{1} << 16;
  threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(1, n_rows * row_len / min_elements_per_thread)));
  threads = static_cast<int>(std::min<int64_t>(threads, n_rows));
  if (threads <= 1) {
    work(0, n_rows);
    return;
  }
  // An exception escaping a std::thread would terminate the process: carry it out instead.
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        work(n_rows * t / threads, n_rows * (t + 1) / threads);
      } catch (...) {
        errors[static_cast<size_t>(t)] = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace greta::synth
