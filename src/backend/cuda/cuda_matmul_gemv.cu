// The matrix-vector route (decode): y[t] = W · x[t] for a handful of rows t.
//
// Decode at batch 1 is bound by the bandwidth of reading W once, so the kernel is shaped
// around the weight stream: each warp owns R output rows and walks them together, every
// lane reading 16-byte pieces of the rows in order (consecutive lanes, consecutive
// pieces: coalesced). The activations of a piece are loaded once and reused for the R
// rows, which both divides the activation traffic by R and puts R independent weight
// loads in flight per lane; a butterfly over the warp finishes each row. R shrinks for
// small matrices so that the grid still covers the GPU. Each weight is dequantized
// exactly (cuda_dequant.cuh) and multiplied by its f32 activation with fmaf: the audit's
// bound |y − y64| ≤ γ_K Σ|w x| holds for this order as for any other.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_dequant.cuh"
#include "backend/cuda/cuda_gemv_pieces.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

constexpr int kWarps = 4;  // per block

// A piece is the unit one lane handles at a time: Piece<T> (cuda_gemv_pieces.cuh) for the
// formats with their own layout, RawPiece<T> (8 dequantized weights) for the rest.

// Finishes the R rows of a warp: a butterfly over the lanes' partial sums, lane 0 stores
// the rows that exist.
template <int R>
__device__ __forceinline__ void store_row_sums(const float (&acc)[R], int lane, int64_t r0, int64_t n_rows, float* y) {
#pragma unroll
  for (int i = 0; i < R; ++i) {
    float v = acc[i];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
    if (lane == 0 && r0 + i < n_rows) y[r0 + i] = v;
  }
}

// The generic piece as a raw piece: the eight weights themselves.
template <TensorType T>
struct RawPiece {
  static constexpr int kElems = 8;
  struct Raw {
    float w[8];
  };
  __device__ static void load_x(const float* x, int64_t p, float xv[8]) {
    const float4 a = *reinterpret_cast<const float4*>(x + p * 8);
    const float4 b = *reinterpret_cast<const float4*>(x + p * 8 + 4);
    xv[0] = a.x; xv[1] = a.y; xv[2] = a.z; xv[3] = a.w; xv[4] = b.x; xv[5] = b.y; xv[6] = b.z; xv[7] = b.w;
  }
  __device__ static Raw load(const uint8_t* row, int64_t p) {
    Raw r;
    dequant8<T>(row, p * 8, r.w);
    return r;
  }
  template <int R>
  __device__ static void dot_rows(const Raw (&raw)[R], const float* x, int64_t p, float (&acc)[R]) {
    float xv[8];
    load_x(x, p, xv);
#pragma unroll
    for (int i = 0; i < R; ++i)
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[i] = fmaf(raw[i].w[e], xv[e], acc[i]);
  }
};

// Each lane walks its pieces in chunks of D: the raw bytes of D pieces of all R rows are
// loaded first (D*R independent loads in flight), then consumed in order, so a warp waits
// for memory once per chunk rather than once per piece. The accumulation order per lane
// (pieces lane, lane+32, ...) does not depend on D.
template <TensorType T, int R, int D>
__global__ void __launch_bounds__(32 * kWarps)
    gemv_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_rows, int64_t k,
                const float* x, int64_t ldx, float* __restrict__ y, int64_t ldy, int64_t k_vec) {
  using P = RawPiece<T>;
  wait_for_prior_kernels();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t r0 = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * R;
  if (r0 >= n_rows) return;
  const int64_t t = blockIdx.y;
  const float* xt = x + t * ldx;
  const uint8_t* rows[R];
#pragma unroll
  for (int i = 0; i < R; ++i) rows[i] = w + min(r0 + i, n_rows - 1) * row_bytes;  // past the end: a repeat, not written
  float acc[R];
#pragma unroll
  for (int i = 0; i < R; ++i) acc[i] = 0.0f;
  const int64_t n_pieces = k_vec / P::kElems;
  for (int64_t base = lane; base < n_pieces; base += 32 * D) {
    typename P::Raw raw[D][R];
#pragma unroll
    for (int d = 0; d < D; ++d)
      if (base + 32 * d < n_pieces)
#pragma unroll
        for (int i = 0; i < R; ++i) raw[d][i] = P::load(rows[i], base + 32 * d);
#pragma unroll
    for (int d = 0; d < D; ++d)
      if (base + 32 * d < n_pieces) P::template dot_rows<R>(raw[d], xt, base + 32 * d, acc);
  }
  // Elements the vector pieces do not cover (F32/F16/BF16 rows of odd width or alignment).
  for (int64_t e = n_pieces * P::kElems + lane; e < k; e += 32) {
    const float xe = xt[e];
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] = fmaf(dequant1<T>(rows[i], e), xe, acc[i]);
  }
  store_row_sums<R>(acc, lane, r0, n_rows, y + t * ldy);
}

template <TensorType T, int R, int D>
void launch_rows(const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x, int64_t ldx,
                 int64_t n_tokens, float* y, int64_t ldy, int64_t k_vec) {
  constexpr int64_t kRowsPerBlock = int64_t{kWarps} * R;
  const dim3 grid(static_cast<unsigned>((n_rows + kRowsPerBlock - 1) / kRowsPerBlock), static_cast<unsigned>(n_tokens));
  launch_chained(gemv_kernel<T, R, D>, grid, dim3(32 * kWarps), 0, static_cast<const uint8_t*>(w), row_bytes, n_rows, k,
                 x, ldx, y, ldy, k_vec);
}

// The formats with their own pieces (Q4_K, Q5_K, Q6_K, Q8_0). With kStage, the block
// first copies the activation row into shared memory, laid out so that when lane j
// reads float4 v of its piece (j, j+32, ...), the 32 lanes read 512 consecutive bytes:
// one pass over the banks (read straight from global memory, a lane's float4s are 64-256
// bytes apart from its neighbours', 16-32 cache lines per warp-wide load). Each lane
// walks its pieces in chunks of D: the raw bytes of D pieces of all R rows are loaded
// first (D*R independent loads in flight), then consumed in order; the accumulation order
// per lane (pieces lane, lane+32, ...) depends neither on D nor on kStage. The first
// chunk's weights are requested before the activations are staged (and before the
// previous kernel has finished, see cuda_launch.cuh): no kernel writes weights.
template <TensorType T, int R, int D, int W, bool kStage>
__global__ void __launch_bounds__(32 * W)
    gemv_staged_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_rows, int64_t k,
                       const float* x, int64_t ldx, float* __restrict__ y, int64_t ldy) {
  using P = Piece<T>;
  extern __shared__ float4 xs[];  // [piece / 32][8][32]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t t = blockIdx.y;
  const int64_t r0 = (static_cast<int64_t>(blockIdx.x) * W + warp) * R;
  const int64_t n_pieces = k / P::kElems;
  const uint8_t* rows[R];
#pragma unroll
  for (int i = 0; i < R; ++i) rows[i] = w + min(r0 + i, n_rows - 1) * row_bytes;  // past the end: a repeat, not written
  typename P::Raw raw[D][R];
  auto load_chunk = [&](int64_t base) {
#pragma unroll
    for (int d = 0; d < D; ++d)
      if (base + 32 * d < n_pieces)
#pragma unroll
        for (int i = 0; i < R; ++i) raw[d][i] = P::load(rows[i], base + 32 * d);
  };
  load_chunk(lane);
  wait_for_prior_kernels();
  const float* xt = x + t * ldx;
  if constexpr (kStage) {
    for (int64_t f = threadIdx.x; f < k / 4; f += blockDim.x) {
      int64_t p;
      int v;
      P::x_slot(4 * f, p, v);
      xs[(p / 32) * 256 + v * 32 + p % 32] = reinterpret_cast<const float4*>(xt)[f];
    }
    __syncthreads();
  }
  if (r0 >= n_rows) return;
  float acc[R];
#pragma unroll
  for (int i = 0; i < R; ++i) acc[i] = 0.0f;
  for (int64_t base = lane; base < n_pieces; base += 32 * D) {
    if (base != lane) load_chunk(base);
#pragma unroll
    for (int d = 0; d < D; ++d) {
      const int64_t p = base + 32 * d;
      if (p < n_pieces) {
        float xv[32];
#pragma unroll
        for (int v = 0; v < 8; ++v) {
          const float4 f = kStage ? xs[(p / 32) * 256 + 32 * v + lane]
                                  : *reinterpret_cast<const float4*>(P::x_vec(xt, p, v));
          xv[4 * v] = f.x; xv[4 * v + 1] = f.y; xv[4 * v + 2] = f.z; xv[4 * v + 3] = f.w;
        }
#pragma unroll
        for (int i = 0; i < R; ++i) P::dot(raw[d][i], p, xv, acc[i]);
      }
    }
  }
  store_row_sums<R>(acc, lane, r0, n_rows, y + t * ldy);
}

// Shared memory of the staged kernels: whole groups of 32 pieces of 32 elements.
size_t staged_bytes(int64_t k) { return static_cast<size_t>((k / 32 + 31) / 32) * 256 * sizeof(float) * 4; }
constexpr size_t kMaxStagedBytes = 160 * 1024;

template <TensorType T, int R, int D, int W, bool kStage>
void launch_staged(const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x, int64_t ldx,
                   int64_t n_tokens, float* y, int64_t ldy) {
  const size_t smem = kStage ? staged_bytes(k) : 0;
  if constexpr (kStage) {
    static size_t allowed = 48 * 1024;  // per instantiation: raised once for long rows
    if (smem > allowed) {
      check(cudaFuncSetAttribute(gemv_staged_kernel<T, R, D, W, kStage>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(kMaxStagedBytes)),
            "cudaFuncSetAttribute (gemv)");
      allowed = kMaxStagedBytes;
    }
  }
  constexpr int64_t kRowsPerBlock = int64_t{W} * R;
  const dim3 grid(static_cast<unsigned>((n_rows + kRowsPerBlock - 1) / kRowsPerBlock), static_cast<unsigned>(n_tokens));
  launch_chained(gemv_staged_kernel<T, R, D, W, kStage>, grid, dim3(32 * W), smem, static_cast<const uint8_t*>(w),
                 row_bytes, n_rows, k, x, ldx, y, ldy);
}

// Rows per warp R, pieces per chunk D, warps per block W and whether the activations are
// staged in shared memory, by format and number of rows. Measured on an H100 over every
// combination (R 1/2/4, D 1/2, W 4/8, staged or not) at 1024, 4096 and 14336 rows (see
// NOTES.md): the large matrices want four rows a warp and little else; the 4096-row ones
// two rows, two pieces in flight and eight warps; the smallest ones (K/V projections)
// one row a warp, the Q4_K one with staged activations.
struct Shape {
  int r, d, w;
  bool stage;
};

// Q8_0 and Q5_K take Q4_K's and Q6_K's classes; only Q8_0's long
// rows (the down projection) do better with four rows a warp (tg128 on an 8B q8_0 file,
// H100: 172.9 -> 179.5 tok/s; other classes tried there were slower).
Shape pick_shape(TensorType type, int64_t n_rows, int64_t k) {
  const bool q8 = type == TensorType::Q8_0;
  const bool q4 = type == TensorType::Q4_K || q8;
  if (n_rows >= 8192 || (q8 && n_rows >= 2048 && k >= 8192)) return {4, 1, 4, false};
  if (n_rows >= 2048) return q4 ? Shape{2, 4, 8, false} : Shape{2, 2, 8, false};
  return q4 ? Shape{1, 4, 8, true} : Shape{1, 4, 4, false};
}

template <TensorType T>
void launch_shape(Shape s, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x, int64_t ldx,
                  int64_t n_tokens, float* y, int64_t ldy) {
#define GRETA_GEMV_CASE(R, D, W, S) \
  if (s.r == R && s.d == D && s.w == W && s.stage == S) \
    return launch_staged<T, R, D, W, S>(w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy);
  GRETA_GEMV_CASE(4, 1, 4, false)
  GRETA_GEMV_CASE(2, 2, 8, false)
  GRETA_GEMV_CASE(1, 4, 8, true)
  GRETA_GEMV_CASE(1, 4, 4, false)
  GRETA_GEMV_CASE(2, 4, 8, false)
#undef GRETA_GEMV_CASE
  launch_staged<T, 1, 1, 4, false>(w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy);
}

// Q8_0's piece needs rows of an even number of blocks, 4-byte aligned (see Piece<Q8_0>).
bool has_piece(TensorType type, const void* w, int64_t k) {
  if (type == TensorType::Q8_0) return (k / 32) % 2 == 0 && reinterpret_cast<uintptr_t>(w) % 4 == 0;
  return true;
}

}  // namespace

void launch_gemv(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t ldx, int64_t n_tokens, float* y, int64_t ldy) {
  if (n_rows == 0 || n_tokens == 0) return;
  const int64_t k_vec = vector_width(type, w, row_bytes, k, x, ldx);
  dispatch_type(type, [&](auto tag) {
    constexpr TensorType T = decltype(tag)::value;
    if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K || T == TensorType::Q6_K || T == TensorType::Q8_0) {
      if (staged_bytes(k) <= kMaxStagedBytes && has_piece(T, w, k)) {
        launch_shape<T>(pick_shape(T, n_rows, k), w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy);
        return;
      }
    }
    // Four rows a warp once there are enough rows for about four blocks per
    // multiprocessor of an H100-class GPU; fewer on smaller matrices, so that more warps
    // share the stream.
    if (n_rows >= 8192)
      launch_rows<T, 4, 1>(w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy, k_vec);
    else if (n_rows >= 2048)
      launch_rows<T, 2, 1>(w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy, k_vec);
    else
      launch_rows<T, 1, 1>(w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy, k_vec);
  });
  check_launch("gemv");
}

}  // namespace greta::cuda
