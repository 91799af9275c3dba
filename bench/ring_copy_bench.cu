// The memory side of the streamed decode GEMV alone (src/backend/cuda/NOTES.md, "Streamed
// GEMV"): one block a multiprocessor, a producer warp bulk-copying 16-row chunks into a
// shared-memory ring, consumer warps that only wait for each stage and release it. It tells
// how fast the ring can stream when the arithmetic costs nothing, for the row-by-row copies
// the GEMV issues and for chunks stored contiguously (one copy a stage), against plain
// 16-byte loads. Reads 3 GiB once per run (far beyond L2), best of 5 runs.
// Usage: ring_copy_bench (no arguments; needs an sm_90 device).
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>

#include "backend/cuda/cuda_mbarrier.cuh"

namespace {
using namespace greta::cuda::wg;

constexpr int kConsumerWarps = 8;

// The buffer is tiles of 16 rows of row_bytes. Chunk c of a tile: bytes [c·chunk, (c+1)·chunk)
// of every row. rowwise: one copy a row into a stage whose rows sit chunk + 16 bytes apart
// (the GEMV's layout); otherwise the tile is taken as stored chunk by chunk (16·chunk
// contiguous bytes a chunk) and copied in `pieces` copies.
__global__ void __launch_bounds__(32 * (kConsumerWarps + 1), 1)
    ring_stream_kernel(const uint8_t* w, int64_t n_tiles, int row_bytes, int chunk, int n_stages, bool rowwise,
                       int pieces, unsigned* sink) {
  extern __shared__ __align__(128) uint8_t smem[];
  const int stage_bytes = 16 * (chunk + 16);
  uint8_t* ring = smem + 1024;
  const uint32_t full0 = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const uint32_t empty0 = full0 + 8u * 32;
  if (threadIdx.x == 0) {
    for (int i = 0; i < n_stages; ++i) {
      mbar_init(full0 + 8u * i, 1);
      mbar_init(empty0 + 8u * i, kConsumerWarps);
    }
    mbar_fence_init();
  }
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int chunks = row_bytes / chunk;
  const int64_t tile_bytes = int64_t{16} * row_bytes;
  if (warp == kConsumerWarps) {
    int st = 0, round = 0;
    for (int64_t t = blockIdx.x; t < n_tiles; t += gridDim.x) {
      const uint8_t* tile = w + t * tile_bytes;
      for (int c = 0; c < chunks; ++c, st = st + 1 == n_stages ? 0 : st + 1, round += st == 0) {
        if (round > 0) mbar_wait(empty0 + 8u * st, (round - 1) & 1);
        if (lane == 0) mbar_arrive_expect_tx(full0 + 8u * st, 16u * chunk);
        __syncwarp();
        const uint32_t dst = static_cast<uint32_t>(__cvta_generic_to_shared(ring + st * stage_bytes));
        if (rowwise) {
          if (lane < 16)
            bulk_copy_g2s(dst + lane * (chunk + 16), tile + int64_t{lane} * row_bytes + int64_t{c} * chunk, chunk,
                          full0 + 8u * st);
        } else if (lane < pieces) {
          const int piece = 16 * chunk / pieces;
          bulk_copy_g2s(dst + lane * piece, tile + int64_t{c} * 16 * chunk + lane * piece, piece, full0 + 8u * st);
        }
      }
    }
    return;
  }
  int st = 0;
  uint32_t phase = 0;
  unsigned seen = 0;
  for (int64_t t = blockIdx.x; t < n_tiles; t += gridDim.x)
    for (int c = 0; c < chunks; ++c, st = st + 1 == n_stages ? 0 : st + 1, phase ^= st == 0) {
      mbar_wait(full0 + 8u * st, phase);
      seen += ring[st * stage_bytes + lane * 4 + warp];
      __syncwarp();
      if (lane == 0) mbar_arrive(empty0 + 8u * st);
    }
  if (seen == 0x12345678u) *sink = seen;  // keeps the reads
}

__global__ void load_stream_kernel(const uint4* w, int64_t n, unsigned* sink) {
  uint32_t acc = 0;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = __ldg(w + i), b = __ldg(w + i + stride), c = __ldg(w + i + 2 * stride), d = __ldg(w + i + 3 * stride);
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
  }
  for (; i < n; i += stride) acc ^= __ldg(w + i).x;
  if (acc == 0x12345678u) *sink = acc;
}

bool ok(cudaError_t e) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "ring_copy_bench: %s\n", cudaGetErrorString(e));
  return false;
}

}  // namespace

int main() {
  const int64_t bytes = int64_t{3} << 30;
  uint8_t* w = nullptr;
  unsigned* sink = nullptr;
  int sms = 0, major = 0;
  if (!ok(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0))) return 2;
  if (major < 9) {
    std::fprintf(stderr, "ring_copy_bench: needs an sm_90 device (bulk copies)\n");
    return 2;
  }
  if (!ok(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0)) || !ok(cudaMalloc(&w, bytes)) ||
      !ok(cudaMalloc(&sink, 4)) || !ok(cudaMemset(w, 1, bytes)) ||
      !ok(cudaFuncSetAttribute(ring_stream_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024)))
    return 2;
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  auto tb_per_s = [&](auto launch, int64_t moved) {
    launch();
    cudaDeviceSynchronize();
    float best = 1e30f;
    for (int r = 0; r < 5; ++r) {
      cudaEventRecord(e0);
      launch();
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float ms = 0;
      cudaEventElapsedTime(&ms, e0, e1);
      best = ms < best ? ms : best;
    }
    return moved / (best * 1e-3) / 1e12;
  };
  for (int per_sm : {4, 16}) {
    const double v = tb_per_s(
        [&] { load_stream_kernel<<<sms * per_sm, 256>>>(reinterpret_cast<const uint4*>(w), bytes / 16, sink); }, bytes);
    std::printf("16-byte loads, %2d blocks of 256 a multiprocessor       %.3f TB/s\n", per_sm, v);
  }
  struct Case {
    const char* what;
    int row_bytes, chunk, stages;
    bool rowwise;
    int pieces;
  };
  // Q4_K rows of K = 4096 (2304 bytes) and 14336 (8064), Q6_K (3360, 11760); chunks of 8
  // super-blocks as the GEMV copies them.
  const Case cases[] = {
      {"Q4_K K=4096,  rows, 6 stages (the GEMV's)", 2304, 1152, 6, true, 16},
      {"Q4_K K=4096,  rows, 8 stages", 2304, 1152, 8, true, 16},
      {"Q4_K K=4096,  rows, 12 stages", 2304, 1152, 12, true, 16},
      {"Q6_K K=14336, rows, 6 stages (the GEMV's)", 11760, 1680, 6, true, 16},
      {"Q4_K K=14336, rows, 8 stages", 8064, 1152, 8, true, 16},
      {"Q4_K K=14336, rows, 4 stages", 8064, 1152, 4, true, 16},
      {"Q6_K K=4096,  rows, 6 stages", 3360, 1680, 6, true, 16},
      {"Q6_K K=14336, rows, 7 stages", 11760, 1680, 7, true, 16},
      {"Q4_K K=4096,  whole rows a stage, 5 stages", 2304, 2304, 5, true, 16},
      {"Q4_K K=4096,  contiguous chunk, 1 copy, 8 stages", 2304, 1152, 8, false, 1},
      {"Q4_K K=14336, contiguous chunk, 1 copy, 8 stages", 8064, 1152, 8, false, 1},
      {"Q4_K K=14336, contiguous chunk, 4 copies, 8 stages", 8064, 1152, 8, false, 4},
      {"Q4_K K=4096,  contiguous chunk, 1 copy, 4 stages", 2304, 1152, 4, false, 1},
  };
  for (const Case& c : cases) {
    const int64_t n_tiles = bytes / (int64_t{16} * c.row_bytes);
    const size_t smem = 1024 + size_t{16} * (c.chunk + 16) * c.stages;
    const double v = tb_per_s(
        [&] {
          ring_stream_kernel<<<sms, 32 * (kConsumerWarps + 1), smem>>>(w, n_tiles, c.row_bytes, c.chunk, c.stages,
                                                                       c.rowwise, c.pieces, sink);
        },
        n_tiles * 16 * c.row_bytes);
    if (!ok(cudaGetLastError())) return 2;
    std::printf("ring: %-50s %.3f TB/s (%zu KB of shared memory)\n", c.what, v, smem / 1024);
  }
  return 0;
}
