#pragma once
// Deterministic synthetic weights, generated and quantized in parallel.
//
// Every row draws from its own generator seeded by (tensor seed, row index), so the bytes
// depend only on the seed — never on how many threads produced them or in what order.
//
// Two ways to fill a tensor, chosen by its size:
//  * direct (small tensors, and any tensor with a RowAdjust): each row is generated in f32
//    and quantized with quant::quantize_row.
//  * chunk pool (tensors of kPooledMinElements or more): a pool of kPoolChunks chunks of
//    256 elements is generated and quantized with quant::quantize_row, and each row is a
//    random sequence of pool chunks (chosen by the row's own generator). Quantizing costs
//    ~10 ns an element, which for an 8B model is ~90 CPU-seconds; copying pool chunks
//    costs next to nothing, so an 8B file is written in seconds. Every block is still a
//    genuine quantize_row output of the requested distribution, and two rows share a
//    chunk at a given position with probability 1/kPoolChunks, so the matrix behaves
//    like an independent random one for everything a synthetic model is used for.
#include <cstdint>
#include <functional>
#include <span>

#include "greta/tensor_type.h"

namespace greta::synth {

// Values are mean + uniform noise with the given standard deviation. Uniform noise is
// the cheapest to draw (two values per 64-bit word) and quantizes as well as any.
struct WeightDistribution {
  float mean = 0.0f;
  float stddev = 0.03f;
};

// Optional per-row adjustment applied to the f32 values before quantization
// (the built-in model uses it to shape its output distribution).
using RowAdjust = std::function<void(int64_t row, float* values, int64_t n)>;

constexpr int64_t kPoolChunks = 4096;                   // a power of two
constexpr int64_t kPooledMinElements = int64_t{1} << 22; // 4 Mi elements: 4× the pool

struct PoolGeometry {
  int64_t chunk_elements;  // 256 when the row length allows, else one block
  int64_t chunk_bytes;
  int64_t n_chunks;
};
PoolGeometry pool_geometry(TensorType type, int64_t row_len);
bool uses_chunk_pool(int64_t row_len, int64_t n_rows);

// Mixes a model seed and a tensor index into that tensor's seed.
uint64_t tensor_seed(uint64_t model_seed, uint64_t tensor_index);

// Fills one row of n f32 values for (seed, row).
void generate_row(uint64_t seed, int64_t row, const WeightDistribution& dist, float* out, int64_t n);

// Fills dst (n_rows rows of `type`, each row_len elements) with generated, quantized rows.
// n_threads 0 means one per hardware thread. dst.size() must be n_rows × row_bytes.
void fill_tensor(std::span<uint8_t> dst, TensorType type, int64_t row_len, int64_t n_rows, uint64_t seed,
                 const WeightDistribution& dist, int n_threads = 0, const RowAdjust& adjust = {});

}  // namespace greta::synth
