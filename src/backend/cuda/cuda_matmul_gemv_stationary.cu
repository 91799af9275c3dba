// The activation-stationary decode GEMV for Q4_K and Q6_K, one token.
//
// The lane-strided kernel (cuda_matmul_gemv.cu) reloads the activations of every 32-weight
// piece for each group of rows: 128 bytes of x through L1 per 16 bytes of Q4_K codes, the
// suspect for its 0.8-1.6 TB/s. Here the row's K dimension is split over the
// threads of a block once and for all: thread j owns piece j of every row (32 weights,
// cuda_gemv_pieces.cuh) and loads that piece's activations into registers once. The block
// then walks a contiguous range of rows RB at a time: per row a thread loads only its
// piece's raw bytes (lanes of one super-block read the same head bytes: a broadcast),
// dequantizes exactly and accumulates 32 fmaf. The raw bytes of two chunks are held: one
// is in flight while the other is consumed (the dot products leave no memory in flight
// otherwise; they cost about as long as the chunk's bytes take to arrive). A transposed
// warp reduction gives each lane group the warp's sum of one row, and the warps' sums are
// added in warp order through shared memory.
//
// Order per row: 32 fmaf in the piece's order per thread, a butterfly over the warp's
// lanes (xor 16, 8, 4, 2, 1: the same pairs for every row, and a+b == b+a in floating
// point), then warps 0, 1, ... in turn. Nothing depends on the other rows of the launch.
// The grid is at most one wave of blocks, each with a share of the rows as equal as
// possible, so the activations are read once per resident block.
//
// Off by default: inside a decode step (tg128, 8B Q4_K_M, H100) no row class ran faster
// than the lane-strided kernel (NOTES.md), so removing the activation traffic is not what
// that kernel lacks. GRETA_GEMV_ST_MASK turns it on per class for measurements.
#include "backend/cuda/cuda_matmul_gemv_stationary.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>

#include "backend/cuda/cuda_gemv_pieces.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

constexpr int kMaxWarps = 16;  // 512 pieces: rows up to 16384 wide

// The sum over the warp of v[i] for RB rows: after log2(RB) transposing steps lane L holds
// in v[0] a partial of row (L >> (5 - log2 RB)), completed by a plain butterfly over the
// remaining low lane bits. Returns that row's warp sum (valid in every lane).
template <int RB>
__device__ __forceinline__ float transposed_warp_sum(float (&v)[RB], int lane) {
  int n = RB, off = 16;
#pragma unroll
  for (; n > 1; n /= 2, off /= 2) {
    const bool upper = (lane & off) != 0;
#pragma unroll
    for (int i = 0; i < n / 2; ++i) {
      const float send = upper ? v[i] : v[i + n / 2];
      const float keep = upper ? v[i + n / 2] : v[i];
      v[i] = keep + __shfl_xor_sync(0xFFFFFFFFu, send, off);
    }
  }
  float s = v[0];
#pragma unroll
  for (; off > 0; off /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, off);
  return s;
}

template <TensorType T, int RB>
__global__ void __launch_bounds__(32 * kMaxWarps)
    gemv_stationary_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_rows, int64_t n_pieces,
                           const float* __restrict__ x, float* __restrict__ y) {
  using P = Piece<T>;
  using Raw = typename P::Raw;
  __shared__ float part[2][kMaxWarps][RB];  // warp sums, double-buffered across chunks
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = blockDim.x / 32;
  const int64_t p = threadIdx.x;
  const bool active = p < n_pieces;
  const int64_t r_begin = n_rows * blockIdx.x / gridDim.x, r_end = n_rows * (blockIdx.x + 1) / gridDim.x;
  auto load_chunk = [&](Raw(&raw)[RB], int64_t r) {
#pragma unroll
    for (int i = 0; i < RB; ++i)
      if (active && r + i < r_end) raw[i] = P::load(w + (r + i) * row_bytes, p);
  };
  // Two chunks of raw bytes: while one is consumed the other is in flight. Weights depend
  // on no earlier kernel, so the first two are requested before waiting.
  Raw ra[RB], rb[RB];
  load_chunk(ra, r_begin);
  load_chunk(rb, r_begin + RB);
  wait_for_prior_kernels();
  allow_next_kernel();
  float xv[32];
#pragma unroll
  for (int v = 0; v < 8; ++v) {
    const float4 f = active ? *reinterpret_cast<const float4*>(P::x_vec(x, p, v)) : make_float4(0, 0, 0, 0);
    xv[4 * v] = f.x; xv[4 * v + 1] = f.y; xv[4 * v + 2] = f.z; xv[4 * v + 3] = f.w;
  }
  constexpr int kLanesPerRow = 32 / RB;
  int buf = 0;
  // Rows r .. r+RB-1 from raw, which is then refilled with the rows 2*RB further on.
  auto step = [&](Raw(&raw)[RB], int64_t r) {
    float acc[RB];
#pragma unroll
    for (int i = 0; i < RB; ++i) {
      acc[i] = 0.0f;
      if (active && r + i < r_end) P::dot(raw[i], p, xv, acc[i]);
    }
    if (r + 2 * RB < r_end) load_chunk(raw, r + 2 * RB);
    const float s = transposed_warp_sum<RB>(acc, lane);
    if (lane % kLanesPerRow == 0) part[buf][warp][lane / kLanesPerRow] = s;
    __syncthreads();  // the buffer is rewritten two chunks later, after the next barrier
    if (threadIdx.x < RB && r + threadIdx.x < r_end) {
      float t = part[buf][0][threadIdx.x];
      for (int u = 1; u < n_warps; ++u) t += part[buf][u][threadIdx.x];
      y[r + threadIdx.x] = t;
    }
    buf ^= 1;
  };
  for (int64_t r = r_begin; r < r_end; r += 2 * RB) {
    step(ra, r);
    if (r + RB >= r_end) break;
    step(rb, r + RB);
  }
}

// Knobs for measurements inside decode (read once): GRETA_GEMV_ST_MASK picks the classes
// that take this kernel, none by default (bit 0: Q4_K below 2048 rows, 1: Q4_K 2048-8191
// rows, 2: Q4_K from 8192 rows, 3: Q4_K rows wider than 4096, 4: Q6_K below 2048 rows,
// 5: Q6_K rows wider than 4096, 6: other Q6_K); GRETA_GEMV_ST_RB4 / GRETA_GEMV_ST_RB6 the
// rows per chunk of Q4_K / Q6_K (2 or 4; Q6_K's 4 spills); GRETA_GEMV_ST_MINROWS the
// fewest rows a block takes.
int env_int(const char* name, int fallback) {
  const char* s = std::getenv(name);
  return s && *s ? std::atoi(s) : fallback;
}

int shape_class(TensorType type, int64_t n_rows, int64_t k) {
  if (type == TensorType::Q4_K) {
    if (k > 4096) return 3;
    return n_rows < 2048 ? 0 : n_rows < 8192 ? 1 : 2;
  }
  if (n_rows < 2048) return 4;
  return k > 4096 ? 5 : 6;
}

template <TensorType T, int RB>
void launch(const void* w, int64_t row_bytes, int64_t n_rows, int64_t n_pieces, const float* x, float* y,
            int64_t min_rows) {
  static int sms = 0;
  static int per_sm[kMaxWarps + 1] = {};  // resident blocks per multiprocessor, by warps per block
  const int warps = static_cast<int>((n_pieces + 31) / 32);
  if (sms == 0) {
    int dev = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  }
  if (per_sm[warps] == 0) {
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm[warps], gemv_stationary_kernel<T, RB>, 32 * warps, 0),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    if (per_sm[warps] < 1) per_sm[warps] = 1;
  }
  int64_t blocks = int64_t{sms} * per_sm[warps];
  const int64_t by_rows = (n_rows + min_rows - 1) / min_rows;
  if (by_rows < blocks) blocks = by_rows;
  launch_chained(gemv_stationary_kernel<T, RB>, dim3(static_cast<unsigned>(blocks)), dim3(32 * warps), 0,
                 static_cast<const uint8_t*>(w), row_bytes, n_rows, n_pieces, x, y);
}

}  // namespace

bool launch_gemv_stationary(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k,
                            const float* x, float* y, bool force) {
  static const int mask = env_int("GRETA_GEMV_ST_MASK", 0);
  static const int rb4 = env_int("GRETA_GEMV_ST_RB4", 4), rb6 = env_int("GRETA_GEMV_ST_RB6", 2);
  static const int min_rows = env_int("GRETA_GEMV_ST_MINROWS", 8);
  if (type != TensorType::Q4_K && type != TensorType::Q6_K) return false;
  const int64_t n_pieces = k / 32;
  if (k % 256 != 0 || n_pieces > 32 * kMaxWarps || n_rows == 0) return false;
  if (!force && (mask >> shape_class(type, n_rows, k) & 1) == 0) return false;
  const int64_t mr = min_rows < 1 ? 1 : min_rows;
  if (type == TensorType::Q4_K) {
    if (rb4 == 2) launch<TensorType::Q4_K, 2>(w, row_bytes, n_rows, n_pieces, x, y, mr);
    else launch<TensorType::Q4_K, 4>(w, row_bytes, n_rows, n_pieces, x, y, mr);
  } else {
    if (rb6 == 4) launch<TensorType::Q6_K, 4>(w, row_bytes, n_rows, n_pieces, x, y, mr);
    else launch<TensorType::Q6_K, 2>(w, row_bytes, n_rows, n_pieces, x, y, mr);
  }
  check_launch("gemv_stationary");
  return true;
}

}  // namespace greta::cuda
