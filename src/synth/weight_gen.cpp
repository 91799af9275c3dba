#include "synth/weight_gen.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
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

PoolGeometry pool_geometry(TensorType type, int64_t row_len) {
  const int64_t block = type_traits(type).block_size;
  // 256 elements is a whole number of blocks for every supported type (1, 32 or 256).
  const int64_t chunk = row_len % 256 == 0 ? 256 : block;
  return {chunk, row_bytes(type, chunk), kPoolChunks};
}

bool uses_chunk_pool(int64_t row_len, int64_t n_rows) { return row_len * n_rows >= kPooledMinElements; }

namespace {

int thread_count(int requested, int64_t n_items, int64_t elements_per_item) {
  int threads = requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Threads only pay off with real work; norms and small matrices run inline.
  const int64_t min_elements_per_thread = int64_t{1} << 16;
  threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(1, n_items * elements_per_item / min_elements_per_thread)));
  return static_cast<int>(std::min<int64_t>(threads, n_items));
}

// Runs work(begin, end) over [0, n) split into `threads` contiguous ranges.
template <class Work>
void parallel_ranges(int64_t n, int threads, Work&& work) {
  if (threads <= 1) {
    work(int64_t{0}, n);
    return;
  }
  // An exception escaping a std::thread would terminate the process: carry it out instead.
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        work(n * t / threads, n * (t + 1) / threads);
      } catch (...) {
        errors[static_cast<size_t>(t)] = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Every row generated in f32 and quantized on its own.
void fill_direct(std::span<uint8_t> dst, TensorType type, int64_t row_len, int64_t n_rows, uint64_t seed,
                 const WeightDistribution& dist, int threads, const RowAdjust& adjust) {
  const int64_t rb = row_bytes(type, row_len);
  parallel_ranges(n_rows, thread_count(threads, n_rows, row_len), [&](int64_t begin, int64_t end) {
    std::vector<float> values(static_cast<size_t>(row_len));
    for (int64_t r = begin; r < end; ++r) {
      generate_row(seed, r, dist, values.data(), row_len);
      if (adjust) adjust(r, values.data(), row_len);
      quant::quantize_row(type, values.data(), dst.data() + r * rb, row_len);  // f32/f16/bf16 too
    }
  });
}

// Rows assembled from a pool of quantized chunks; see weight_gen.h for why.
void fill_pooled(std::span<uint8_t> dst, TensorType type, int64_t row_len, int64_t n_rows, uint64_t seed,
                 const WeightDistribution& dist, int threads) {
  const PoolGeometry g = pool_geometry(type, row_len);
  std::vector<uint8_t> pool(static_cast<size_t>(g.chunk_bytes * g.n_chunks));
  // The pool's own seed stream is distinct from the per-row selection streams below.
  const uint64_t pool_seed = tensor_seed(seed, 0xB00Cull);
  parallel_ranges(g.n_chunks, thread_count(threads, g.n_chunks, g.chunk_elements), [&](int64_t begin, int64_t end) {
    std::vector<float> values(static_cast<size_t>(g.chunk_elements));
    for (int64_t c = begin; c < end; ++c) {
      generate_row(pool_seed, c, dist, values.data(), g.chunk_elements);
      quant::quantize_row(type, values.data(), pool.data() + c * g.chunk_bytes, g.chunk_elements);
    }
  });

  static_assert((kPoolChunks & (kPoolChunks - 1)) == 0, "pool size must be a power of two");
  constexpr int kIndexBits = std::countr_zero(static_cast<uint64_t>(kPoolChunks));
  constexpr int kIndicesPerDraw = 64 / kIndexBits;
  const int64_t rb = row_bytes(type, row_len), chunks_per_row = row_len / g.chunk_elements;
  parallel_ranges(n_rows, thread_count(threads, n_rows, row_len), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      sampling::Xoshiro256 rng(seed ^ (static_cast<uint64_t>(r) * 0x9E3779B97F4A7C15ull));
      uint8_t* out = dst.data() + r * rb;
      uint64_t bits = 0;
      int left = 0;
      for (int64_t c = 0; c < chunks_per_row; ++c) {
        if (left == 0) {
          bits = rng.next();
          left = kIndicesPerDraw;
        }
        const uint64_t idx = bits & (kPoolChunks - 1);
        bits >>= kIndexBits;
        --left;
        std::memcpy(out + c * g.chunk_bytes, pool.data() + idx * static_cast<uint64_t>(g.chunk_bytes),
                    static_cast<size_t>(g.chunk_bytes));
      }
    }
  });
}

}  // namespace

void fill_tensor(std::span<uint8_t> dst, TensorType type, int64_t row_len, int64_t n_rows, uint64_t seed,
                 const WeightDistribution& dist, int n_threads, const RowAdjust& adjust) {
  const int64_t rb = row_bytes(type, row_len);
  if (static_cast<int64_t>(dst.size()) != rb * n_rows) throw std::logic_error("fill_tensor: destination size mismatch");
  if (!adjust && uses_chunk_pool(row_len, n_rows))
    fill_pooled(dst, type, row_len, n_rows, seed, dist, n_threads);
  else
    fill_direct(dst, type, row_len, n_rows, seed, dist, n_threads, adjust);
}

}  // namespace greta::synth
