// The matrix-vector route (decode): y[t] = W · x[t] for a handful of rows t.
//
// Decode at batch 1 is bound by the bandwidth of reading W once, so the kernel is shaped
// around the weight stream: one warp per output row, eight rows per block, every lane
// reading 16-byte pieces of the row in order (consecutive lanes, consecutive pieces:
// coalesced), two independent accumulators per lane so that two pieces' loads are in
// flight, then a butterfly reduction over the warp. Each weight is dequantized exactly
// (cuda_dequant.cuh) and multiplied by its f32 activation with fmaf: the audit's bound
// |y − y64| ≤ γ_K Σ|w x| holds for this order as for any other.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_dequant.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

constexpr int kRowsPerBlock = 8;  // one warp per row

// A piece is the unit one lane handles at a time. The generic piece is 8 elements
// (dequant8: 16 bytes for F16/BF16, 32 for F32, a slice of a quantized block).
template <TensorType T>
struct Piece {
  static constexpr int kElems = 8;
  __device__ static void dot(const uint8_t* row, int64_t p, const float* x, float& acc) {
    float w[8];
    dequant8<T>(row, p * 8, w);
    const float4 a = *reinterpret_cast<const float4*>(x + p * 8);
    const float4 b = *reinterpret_cast<const float4*>(x + p * 8 + 4);
    const float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) acc = fmaf(w[i], xv[i], acc);
  }
};

// Q4_K: a piece is one 16-byte load of codes = 16 low nibbles of sub-block 2g and the 16
// high nibbles of sub-block 2g+1 at the same offsets, so no code byte is read twice.
template <>
struct Piece<TensorType::Q4_K> {
  static constexpr int kElems = 32;
  __device__ static void dot(const uint8_t* row, int64_t p, const float* x, float& acc) {
    const uint8_t* b = row + (p / 8) * 144;
    const int sub = static_cast<int>(p % 8), g = sub / 2, h = sub % 2;
    const uint4 q = *reinterpret_cast<const uint4*>(b + 16 + 32 * g + 16 * h);
    const uint32_t dm = *reinterpret_cast<const uint32_t*>(b);
    const float d = half_bits_to_float(static_cast<uint16_t>(dm & 0xFFFFu));
    const float dmin = half_bits_to_float(static_cast<uint16_t>(dm >> 16));
    int sc0, m0, sc1, m1;
    scale_min_k4(2 * g, b + 4, sc0, m0);
    scale_min_k4(2 * g + 1, b + 4, sc1, m1);
    const float a0 = d * static_cast<float>(sc0), b0 = dmin * static_cast<float>(m0);
    const float a1 = d * static_cast<float>(sc1), b1 = dmin * static_cast<float>(m1);
    const float* x0 = x + (p / 8) * 256 + 64 * g + 16 * h;  // elements of the low nibbles
    const float* x1 = x0 + 32;                               // elements of the high nibbles
    const uint32_t words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int v = 0; v < 4; ++v) {
      const float4 xa = *reinterpret_cast<const float4*>(x0 + 4 * v);
      const float4 xb = *reinterpret_cast<const float4*>(x1 + 4 * v);
      const float xl[4] = {xa.x, xa.y, xa.z, xa.w}, xh[4] = {xb.x, xb.y, xb.z, xb.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t byte = (words[v] >> (8 * i)) & 0xFFu;
        acc = fmaf(fmaf(a0, code_to_float(byte & 0xFu, 0.0f), -b0), xl[i], acc);
        acc = fmaf(fmaf(a1, code_to_float(byte >> 4, 0.0f), -b1), xh[i], acc);
      }
    }
  }
};

template <TensorType T>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    gemv_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_rows, int64_t k,
                const float* __restrict__ x, int64_t ldx, float* __restrict__ y, int64_t ldy, int64_t k_vec) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + warp;
  if (r >= n_rows) return;
  const int64_t t = blockIdx.y;
  const uint8_t* row = w + r * row_bytes;
  const float* xt = x + t * ldx;
  const int64_t n_pieces = k_vec / Piece<T>::kElems;
  float acc0 = 0.0f, acc1 = 0.0f;
  int64_t p = lane;
  for (; p + 32 < n_pieces; p += 64) {
    Piece<T>::dot(row, p, xt, acc0);
    Piece<T>::dot(row, p + 32, xt, acc1);
  }
  if (p < n_pieces) Piece<T>::dot(row, p, xt, acc0);
  // Elements the vector pieces do not cover (F32/F16/BF16 rows of odd width or alignment).
  for (int64_t e = n_pieces * Piece<T>::kElems + lane; e < k; e += 32) acc1 = fmaf(dequant1<T>(row, e), xt[e], acc1);
  float acc = acc0 + acc1;
#pragma unroll
  for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, off);
  if (lane == 0) y[t * ldy + r] = acc;
}

}  // namespace

void launch_gemv(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t ldx, int64_t n_tokens, float* y, int64_t ldy) {
  if (n_rows == 0 || n_tokens == 0) return;
  const int64_t k_vec = vector_width(type, w, row_bytes, k, x, ldx);
  const dim3 grid(static_cast<unsigned>((n_rows + kRowsPerBlock - 1) / kRowsPerBlock), static_cast<unsigned>(n_tokens));
  dispatch_type(type, [&](auto tag) {
    constexpr TensorType T = decltype(tag)::value;
    gemv_kernel<T><<<grid, 32 * kRowsPerBlock>>>(static_cast<const uint8_t*>(w), row_bytes, n_rows, k, x, ldx, y, ldy, k_vec);
  });
  check_launch("gemv");
}

}  // namespace greta::cuda
