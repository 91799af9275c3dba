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

#include "backend/cuda/cuda_dequant.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

constexpr int kWarps = 4;  // per block

// A piece is the unit one lane handles at a time. The generic piece is 8 elements
// (dequant8: 16 bytes for F16/BF16, 32 for F32, a slice of a quantized block).
template <TensorType T>
struct Piece {
  static constexpr int kElems = 8;
  __device__ static void load_x(const float* x, int64_t p, float xv[8]) {
    const float4 a = *reinterpret_cast<const float4*>(x + p * 8);
    const float4 b = *reinterpret_cast<const float4*>(x + p * 8 + 4);
    xv[0] = a.x; xv[1] = a.y; xv[2] = a.z; xv[3] = a.w; xv[4] = b.x; xv[5] = b.y; xv[6] = b.z; xv[7] = b.w;
  }
  __device__ static void dot(const uint8_t* row, int64_t p, const float xv[8], float& acc) {
    float w[8];
    dequant8<T>(row, p * 8, w);
#pragma unroll
    for (int i = 0; i < 8; ++i) acc = fmaf(w[i], xv[i], acc);
  }
};

// Q4_K: a piece is one 16-byte load of codes = 16 low nibbles of sub-block 2g and the 16
// high nibbles of sub-block 2g+1 at the same offsets, so no code byte is read twice.
template <>
struct Piece<TensorType::Q4_K> {
  static constexpr int kElems = 32;
  // xv[0..16): elements of the low nibbles (64g + 16h + i), xv[16..32): of the high ones.
  __device__ static void load_x(const float* x, int64_t p, float xv[32]) {
    const int sub = static_cast<int>(p % 8), g = sub / 2, h = sub % 2;
    const float* x0 = x + (p / 8) * 256 + 64 * g + 16 * h;
#pragma unroll
    for (int v = 0; v < 4; ++v) {
      const float4 a = *reinterpret_cast<const float4*>(x0 + 4 * v);
      const float4 b = *reinterpret_cast<const float4*>(x0 + 32 + 4 * v);
      xv[4 * v] = a.x; xv[4 * v + 1] = a.y; xv[4 * v + 2] = a.z; xv[4 * v + 3] = a.w;
      xv[16 + 4 * v] = b.x; xv[16 + 4 * v + 1] = b.y; xv[16 + 4 * v + 2] = b.z; xv[16 + 4 * v + 3] = b.w;
    }
  }
  __device__ static void dot(const uint8_t* row, int64_t p, const float xv[32], float& acc) {
    const uint8_t* b = row + (p / 8) * 144;
    const int sub = static_cast<int>(p % 8), g = sub / 2, h = sub % 2;
    const uint4 q = *reinterpret_cast<const uint4*>(b + 16 + 32 * g + 16 * h);
    const uint4 head = *reinterpret_cast<const uint4*>(b);  // d, dmin, 12 bytes of scales
    const float d = half_bits_to_float(static_cast<uint16_t>(head.x & 0xFFFFu));
    const float dmin = half_bits_to_float(static_cast<uint16_t>(head.x >> 16));
    // The eight six-bit scales and mins four at a time (scale_min_k4's packing, as in
    // quant::k_quant_scale_bytes), then the bytes of sub-blocks 2g and 2g+1.
    const uint32_t sc_lo = head.y & 0x3F3F3F3Fu, m_lo = head.z & 0x3F3F3F3Fu;
    const uint32_t sc_hi = (head.w & 0x0F0F0F0Fu) | ((head.y >> 2) & 0x30303030u);
    const uint32_t m_hi = ((head.w >> 4) & 0x0F0F0F0Fu) | ((head.z >> 2) & 0x30303030u);
    const uint32_t scw = g < 2 ? sc_lo : sc_hi, mw = g < 2 ? m_lo : m_hi;
    const int sh = 16 * (g & 1);
    const float a0 = d * code_to_float((scw >> sh) & 0xFFu, 0.0f), b0 = dmin * code_to_float((mw >> sh) & 0xFFu, 0.0f);
    const float a1 = d * code_to_float((scw >> (sh + 8)) & 0xFFu, 0.0f),
                b1 = dmin * code_to_float((mw >> (sh + 8)) & 0xFFu, 0.0f);
    const uint32_t words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int v = 0; v < 4; ++v) {
      const uint32_t lo = words[v] & 0x0F0F0F0Fu, hi = (words[v] >> 4) & 0x0F0F0F0Fu;
      const float* xl = xv + 4 * v;
      const float* xh = xv + 16 + 4 * v;
      acc = fmaf(fmaf(a0, byte_code_to_float<0>(lo, 0.0f), -b0), xl[0], acc);
      acc = fmaf(fmaf(a1, byte_code_to_float<0>(hi, 0.0f), -b1), xh[0], acc);
      acc = fmaf(fmaf(a0, byte_code_to_float<1>(lo, 0.0f), -b0), xl[1], acc);
      acc = fmaf(fmaf(a1, byte_code_to_float<1>(hi, 0.0f), -b1), xh[1], acc);
      acc = fmaf(fmaf(a0, byte_code_to_float<2>(lo, 0.0f), -b0), xl[2], acc);
      acc = fmaf(fmaf(a1, byte_code_to_float<2>(hi, 0.0f), -b1), xh[2], acc);
      acc = fmaf(fmaf(a0, byte_code_to_float<3>(lo, 0.0f), -b0), xl[3], acc);
      acc = fmaf(fmaf(a1, byte_code_to_float<3>(hi, 0.0f), -b1), xh[3], acc);
    }
  }
};

// Q6_K: a piece is 8 consecutive l of one 128-element half across its four quarters
// (32 elements): 8 bytes of each ql run and 8 bytes of qh, each byte used in full. The
// block is only 2-byte aligned, so the 24 bytes come in 16-bit loads.
template <>
struct Piece<TensorType::Q6_K> {
  static constexpr int kElems = 32;
  // xv[8q + i]: element 128*half + 32q + l0 + i.
  __device__ static void load_x(const float* x, int64_t p, float xv[32]) {
    const int sub = static_cast<int>(p % 8), half = sub / 4, l0 = (sub % 4) * 8;
    const float* x0 = x + (p / 8) * 256 + 128 * half + l0;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const float4 a = *reinterpret_cast<const float4*>(x0 + 32 * q);
      const float4 b = *reinterpret_cast<const float4*>(x0 + 32 * q + 4);
      xv[8 * q] = a.x; xv[8 * q + 1] = a.y; xv[8 * q + 2] = a.z; xv[8 * q + 3] = a.w;
      xv[8 * q + 4] = b.x; xv[8 * q + 5] = b.y; xv[8 * q + 6] = b.z; xv[8 * q + 7] = b.w;
    }
  }
  __device__ static void dot(const uint8_t* row, int64_t p, const float xv[32], float& acc) {
    const uint8_t* b = row + (p / 8) * 210;
    const int sub = static_cast<int>(p % 8), half = sub / 4, l0 = (sub % 4) * 8;
    uint32_t la_lo, la_hi, lb_lo, lb_hi, h_lo, h_hi;
    load8_align2(b + 64 * half + l0, la_lo, la_hi);       // quarters 0 (low nibble) and 2 (high)
    load8_align2(b + 64 * half + 32 + l0, lb_lo, lb_hi);  // quarters 1 and 3
    load8_align2(b + 128 + 32 * half + l0, h_lo, h_hi);   // two high bits of each quarter
    const float d = half_bits_to_float(load_u16(b + 208));
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * half + l0 / 16;
    float a[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) a[q] = d * static_cast<float>(sc[2 * q]);
    // The six-bit codes of four quarters, four bytes at a time (q6_k_code's layout).
    const uint32_t las[2] = {la_lo, la_hi}, lbs[2] = {lb_lo, lb_hi}, hs[2] = {h_lo, h_hi};
#pragma unroll
    for (int w = 0; w < 2; ++w) {
      const uint32_t q0 = (las[w] & 0x0F0F0F0Fu) | ((hs[w] & 0x03030303u) << 4);
      const uint32_t q1 = (lbs[w] & 0x0F0F0F0Fu) | ((hs[w] & 0x0C0C0C0Cu) << 2);
      const uint32_t q2 = ((las[w] >> 4) & 0x0F0F0F0Fu) | (hs[w] & 0x30303030u);
      const uint32_t q3 = ((lbs[w] >> 4) & 0x0F0F0F0Fu) | ((hs[w] >> 2) & 0x30303030u);
      const float* x = xv + 4 * w;
      acc = fmaf(a[0] * byte_code_to_float<0>(q0, 32.0f), x[0], acc);
      acc = fmaf(a[1] * byte_code_to_float<0>(q1, 32.0f), x[8], acc);
      acc = fmaf(a[2] * byte_code_to_float<0>(q2, 32.0f), x[16], acc);
      acc = fmaf(a[3] * byte_code_to_float<0>(q3, 32.0f), x[24], acc);
      acc = fmaf(a[0] * byte_code_to_float<1>(q0, 32.0f), x[1], acc);
      acc = fmaf(a[1] * byte_code_to_float<1>(q1, 32.0f), x[9], acc);
      acc = fmaf(a[2] * byte_code_to_float<1>(q2, 32.0f), x[17], acc);
      acc = fmaf(a[3] * byte_code_to_float<1>(q3, 32.0f), x[25], acc);
      acc = fmaf(a[0] * byte_code_to_float<2>(q0, 32.0f), x[2], acc);
      acc = fmaf(a[1] * byte_code_to_float<2>(q1, 32.0f), x[10], acc);
      acc = fmaf(a[2] * byte_code_to_float<2>(q2, 32.0f), x[18], acc);
      acc = fmaf(a[3] * byte_code_to_float<2>(q3, 32.0f), x[26], acc);
      acc = fmaf(a[0] * byte_code_to_float<3>(q0, 32.0f), x[3], acc);
      acc = fmaf(a[1] * byte_code_to_float<3>(q1, 32.0f), x[11], acc);
      acc = fmaf(a[2] * byte_code_to_float<3>(q2, 32.0f), x[19], acc);
      acc = fmaf(a[3] * byte_code_to_float<3>(q3, 32.0f), x[27], acc);
    }
  }
};

template <TensorType T, int R>
__global__ void __launch_bounds__(32 * kWarps)
    gemv_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_rows, int64_t k,
                const float* __restrict__ x, int64_t ldx, float* __restrict__ y, int64_t ldy, int64_t k_vec) {
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
  const int64_t n_pieces = k_vec / Piece<T>::kElems;
  for (int64_t p = lane; p < n_pieces; p += 32) {
    float xv[Piece<T>::kElems];
    Piece<T>::load_x(xt, p, xv);
#pragma unroll
    for (int i = 0; i < R; ++i) Piece<T>::dot(rows[i], p, xv, acc[i]);
  }
  // Elements the vector pieces do not cover (F32/F16/BF16 rows of odd width or alignment).
  for (int64_t e = n_pieces * Piece<T>::kElems + lane; e < k; e += 32) {
    const float xe = xt[e];
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] = fmaf(dequant1<T>(rows[i], e), xe, acc[i]);
  }
#pragma unroll
  for (int i = 0; i < R; ++i) {
    float v = acc[i];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
    if (lane == 0 && r0 + i < n_rows) y[t * ldy + r0 + i] = v;
  }
}

template <TensorType T, int R>
void launch_rows(const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x, int64_t ldx,
                 int64_t n_tokens, float* y, int64_t ldy, int64_t k_vec) {
  constexpr int64_t kRowsPerBlock = int64_t{kWarps} * R;
  const dim3 grid(static_cast<unsigned>((n_rows + kRowsPerBlock - 1) / kRowsPerBlock), static_cast<unsigned>(n_tokens));
  gemv_kernel<T, R><<<grid, 32 * kWarps>>>(static_cast<const uint8_t*>(w), row_bytes, n_rows, k, x, ldx, y, ldy, k_vec);
}

}  // namespace

void launch_gemv(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t ldx, int64_t n_tokens, float* y, int64_t ldy) {
  if (n_rows == 0 || n_tokens == 0) return;
  const int64_t k_vec = vector_width(type, w, row_bytes, k, x, ldx);
  // Four rows a warp once there are enough rows for about four blocks per multiprocessor
  // of an H100-class GPU; fewer on smaller matrices, so that more warps share the stream.
  dispatch_type(type, [&](auto tag) {
    constexpr TensorType T = decltype(tag)::value;
    if (n_rows >= 8192)
      launch_rows<T, 4>(w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy, k_vec);
    else if (n_rows >= 2048)
      launch_rows<T, 2>(w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy, k_vec);
    else
      launch_rows<T, 1>(w, row_bytes, n_rows, k, x, ldx, n_tokens, y, ldy, k_vec);
  });
  check_launch("gemv");
}

}  // namespace greta::cuda
