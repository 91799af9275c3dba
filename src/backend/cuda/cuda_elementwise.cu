// Row-wise and element-wise ops: embedding lookup, rmsnorm, RoPE, KV store, SwiGLU, add,
// scale, and the fused pairs add + rmsnorm and RoPE of q and k + KV store (the same
// per-element arithmetic as the ops they replace, so the same bits). Each follows the CPU backend's expression literally (cpu_backend.cpp), with the
// products spelled __fmul_rn where the compiler could otherwise fuse them.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/cuda_dequant.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_norm_parts.cuh"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_row_ops.cuh"

namespace greta::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// One thread per 8 elements of an output row.
template <TensorType T>
__global__ void embed_kernel(const uint8_t* __restrict__ table, int64_t row_bytes, int64_t cols,
                             const int32_t* tokens, int64_t n, float* __restrict__ out) {
  wait_for_prior_kernels();
  const int64_t groups = cols / 8;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= n * groups) return;
  const int64_t i = g / groups, e0 = (g % groups) * 8;
  float w[8];
  dequant8<T>(table + static_cast<int64_t>(tokens[i]) * row_bytes, e0, w);
  float* o = out + i * cols + e0;
#pragma unroll
  for (int j = 0; j < 8; ++j) o[j] = w[j];
}

// One block per row. The sum of squares is kept in double, as on the CPU, so the scale
// is the same f32 value; then (x*s)*g. A decode step normalizes a single row, so the
// block is wide (1024 threads, a few elements each) to keep the row's loads in flight,
// and a row of up to 4096 elements is held in registers: the gain (a weight, written by
// no kernel) is requested before waiting for the previous kernel and x is read once, so
// the kernel waits on memory once instead of three times. kAdd: the row normalized is
// x + addend, computed here and written to sum_out (add + rmsnorm in one kernel).
template <bool kAdd>
__global__ void __launch_bounds__(kNormThreads)
    rmsnorm_kernel(const float* x, const float* addend, float* __restrict__ sum_out,
                   const float* __restrict__ g, float eps, int64_t cols, float* __restrict__ out) {
  __shared__ double partial[kNormThreads / 32];
  __shared__ float scale;
  const int tid = static_cast<int>(threadIdx.x);
  const bool held = cols <= int64_t{kNormThreads} * kNormHeld;
  float gv[kNormHeld], xv[kNormHeld];
  if (held) {
#pragma unroll
    for (int j = 0; j < kNormHeld; ++j) {
      const int64_t i = tid + int64_t{j} * kNormThreads;
      gv[j] = i < cols ? g[i] : 0.0f;
    }
  }
  wait_for_prior_kernels();
  const int64_t row = static_cast<int64_t>(blockIdx.x) * cols;
  const float* xr = x + row;
  const float* ar = kAdd ? addend + row : nullptr;
  float* sr = kAdd ? sum_out + row : nullptr;
  float* o = out + row;
  double ss = 0.0;
  if (held) {
#pragma unroll
    for (int j = 0; j < kNormHeld; ++j) {
      const int64_t i = tid + int64_t{j} * kNormThreads;
      xv[j] = i < cols ? (kAdd ? __fadd_rn(xr[i], ar[i]) : xr[i]) : 0.0f;
      if (kAdd && i < cols) sr[i] = xv[j];
    }
#pragma unroll
    for (int j = 0; j < kNormHeld; ++j)
      if (tid + int64_t{j} * kNormThreads < cols) ss += static_cast<double>(xv[j]) * xv[j];
  } else if (kAdd) {
    // The sums go to sum_out and are read back from there (each by the thread that wrote it).
    for (int64_t i = tid; i < cols; i += kNormThreads) {
      const float v = __fadd_rn(xr[i], ar[i]);
      sr[i] = v;
      ss += static_cast<double>(v) * v;
    }
    xr = sr;
  } else {
#pragma unroll 4
    for (int64_t i = tid; i < cols; i += kNormThreads) ss += static_cast<double>(xr[i]) * xr[i];
  }
#pragma unroll
  for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, off);
  if (tid % 32 == 0) partial[tid / 32] = ss;
  __syncthreads();
  if (tid == 0) {
    double total = 0.0;
    for (int w = 0; w < kNormThreads / 32; ++w) total += partial[w];
    scale = rms_scale(total, cols, eps);
  }
  __syncthreads();
  const float sc = scale;
  if (held) {
#pragma unroll
    for (int j = 0; j < kNormHeld; ++j) {
      const int64_t i = tid + int64_t{j} * kNormThreads;
      if (i < cols) o[i] = rms_apply(xv[j], sc, gv[j]);
    }
  } else {
    for (int64_t i = tid; i < cols; i += kNormThreads) o[i] = rms_apply(xr[i], sc, g[i]);
  }
}

// The rotation of one pair (2i, 2i+1) by the angle whose cosine and sine are c and s.
__device__ __forceinline__ void rotate_pair(float* v, float c, float s) {
  const float a = v[0], b = v[1];
  v[0] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
  v[1] = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
}

// One thread per rotated pair.
__global__ void rope_kernel(float* __restrict__ x, int64_t rows, int64_t cols, int head_dim, int pairs,
                            const float* cos_sin) {
  wait_for_prior_kernels();
  const int64_t heads = cols / head_dim;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * heads * pairs) return;
  const int i = static_cast<int>(idx % pairs);
  const int64_t h = (idx / pairs) % heads, r = idx / (pairs * heads);
  const float c = cos_sin[(r * pairs + i) * 2], s = cos_sin[(r * pairs + i) * 2 + 1];
  rotate_pair(x + r * cols + h * head_dim + 2 * i, c, s);
}

// Cache element: f32 as it is, or f16 rounded to nearest.
__device__ __forceinline__ void store_elem(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_elem(__half* p, float v) { *p = __float2half_rn(v); }

template <class E>
__global__ void kv_store_kernel(const float* k, const float* v, int64_t rows, int64_t kv_dim,
                                const int32_t* pos, E* __restrict__ kc, E* __restrict__ vc) {
  wait_for_prior_kernels();
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * kv_dim) return;
  const int64_t r = idx / kv_dim, c = idx % kv_dim;
  const int64_t dst = static_cast<int64_t>(pos[r]) * kv_dim + c;
  store_elem(kc + dst, k[idx]);
  store_elem(vc + dst, v[idx]);
}

// RoPE of q and k and the KV store in one kernel: one thread per column pair of a q row
// or a k row (head_dim even); a k thread rotates its pair in k, then stores it and the
// same pair of v in the cache row pos[r].
template <class E>
__global__ void rope_qk_store_kernel(float* __restrict__ q, float* __restrict__ k, const float* v,
                                     int64_t rows, int64_t q_cols, int64_t kv_dim, int head_dim, int pairs,
                                     const float* cos_sin, const int32_t* pos,
                                     E* __restrict__ kc, E* __restrict__ vc) {
  wait_for_prior_kernels();
  const int64_t q_pairs = q_cols / 2, per_row = q_pairs + kv_dim / 2;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * per_row) return;
  const int64_t r = idx / per_row, p = idx % per_row;
  const bool is_q = p < q_pairs;
  const int64_t col = 2 * (is_q ? p : p - q_pairs);
  const int i = static_cast<int>((col % head_dim) / 2);
  float* x = is_q ? q + r * q_cols + col : k + r * kv_dim + col;
  if (i < pairs) rotate_pair(x, cos_sin[(r * pairs + i) * 2], cos_sin[(r * pairs + i) * 2 + 1]);
  if (is_q) return;
  const int64_t dst = static_cast<int64_t>(pos[r]) * kv_dim + col;
  const float* vr = v + r * kv_dim + col;
  store_elem(kc + dst, x[0]);
  store_elem(kc + dst + 1, x[1]);
  store_elem(vc + dst, vr[0]);
  store_elem(vc + dst + 1, vr[1]);
}

// A NormLink's consuming side on its own: the scale from the tile sums (every warp forms
// the same), then out = rms(x) · gain with the rmsnorm kernel's expression.
__global__ void rmsnorm_from_tile_sums_kernel(const float* x, const double* sums, int n_sums, const float* g,
                                              float eps, int64_t cols, float* __restrict__ out) {
  wait_for_prior_kernels();
  const float scale = scale_from_tile_sums(sums, n_sums, cols, eps);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) out[i] = rms_apply(x[i], scale, g[i]);
}

__global__ void f16_to_f32_kernel(const __half* __restrict__ src, int64_t n, float* __restrict__ dst) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx < n) dst[idx] = __half2float(src[idx]);
}

__global__ void swiglu_kernel(const float* gate, const float* up, int64_t n,
                              float* __restrict__ out) {
  wait_for_prior_kernels();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = swiglu_value(gate[i], up[i]);
}

__global__ void add_kernel(const float* a, const float* b, int64_t n, float* out) {
  wait_for_prior_kernels();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

__global__ void scale_kernel(float* x, int64_t n, float s) {
  wait_for_prior_kernels();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}

}  // namespace

void launch_embed(TensorType type, const void* table, int64_t row_bytes, int64_t cols, const int32_t* tokens, int64_t n,
                  float* out) {
  if (n == 0) return;
  dispatch_type(type, [&](auto tag) {
    constexpr TensorType T = decltype(tag)::value;
    launch_chained(embed_kernel<T>, dim3(blocks_for(n * (cols / 8))), dim3(kThreads), 0,
                   static_cast<const uint8_t*>(table), row_bytes, cols, tokens, n, out);
  });
  check_launch("embed");
}

void launch_rmsnorm(const float* x, const float* g, float eps, int64_t rows, int64_t cols, float* out) {
  if (rows == 0) return;
  launch_chained(rmsnorm_kernel<false>, dim3(static_cast<unsigned>(rows)), dim3(kNormThreads), 0, x,
                 static_cast<const float*>(nullptr), static_cast<float*>(nullptr), g, eps, cols, out);
  check_launch("rmsnorm");
}

void launch_add_rmsnorm(const float* a, const float* b, float* sum, const float* g, float eps, int64_t rows,
                        int64_t cols, float* out) {
  if (rows == 0) return;
  launch_chained(rmsnorm_kernel<true>, dim3(static_cast<unsigned>(rows)), dim3(kNormThreads), 0, a, b, sum, g, eps,
                 cols, out);
  check_launch("add_rmsnorm");
}

void launch_rmsnorm_from_tile_sums(const float* x, const double* sums, int n_sums, const float* g, float eps,
                                   int64_t cols, float* out) {
  launch_chained(rmsnorm_from_tile_sums_kernel, dim3(1), dim3(kNormThreads), 0, x, sums, n_sums, g, eps, cols, out);
  check_launch("rmsnorm from tile sums");
}

void launch_rope(float* x, int64_t rows, int64_t cols, int head_dim, int rope_dim, const float* cos_sin) {
  const int pairs = rope_dim / 2;
  const int64_t n = rows * (cols / head_dim) * pairs;
  if (n == 0) return;
  launch_chained(rope_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, x, rows, cols, head_dim, pairs, cos_sin);
  check_launch("rope");
}

void launch_kv_store(const float* k, const float* v, int64_t rows, int64_t kv_dim, const int32_t* pos, void* k_cache,
                     void* v_cache, bool kv_f16) {
  if (rows == 0) return;
  const dim3 grid(blocks_for(rows * kv_dim));
  if (kv_f16)
    launch_chained(kv_store_kernel<__half>, grid, dim3(kThreads), 0, k, v, rows, kv_dim, pos, static_cast<__half*>(k_cache),
                   static_cast<__half*>(v_cache));
  else
    launch_chained(kv_store_kernel<float>, grid, dim3(kThreads), 0, k, v, rows, kv_dim, pos, static_cast<float*>(k_cache),
                   static_cast<float*>(v_cache));
  check_launch("kv_store");
}

void launch_rope_qk_store(float* q, float* k, const float* v, int64_t rows, int64_t q_cols, int64_t kv_dim,
                          int head_dim, int rope_dim, const float* cos_sin, const int32_t* pos, void* k_cache,
                          void* v_cache, bool kv_f16) {
  const int64_t n = rows * (q_cols / 2 + kv_dim / 2);
  if (n == 0) return;
  const int pairs = rope_dim / 2;
  const dim3 grid(blocks_for(n));
  if (kv_f16)
    launch_chained(rope_qk_store_kernel<__half>, grid, dim3(kThreads), 0, q, k, v, rows, q_cols, kv_dim, head_dim,
                   pairs, cos_sin, pos, static_cast<__half*>(k_cache), static_cast<__half*>(v_cache));
  else
    launch_chained(rope_qk_store_kernel<float>, grid, dim3(kThreads), 0, q, k, v, rows, q_cols, kv_dim, head_dim,
                   pairs, cos_sin, pos, static_cast<float*>(k_cache), static_cast<float*>(v_cache));
  check_launch("rope_qk_store");
}

void launch_f16_to_f32(const uint16_t* src, int64_t n, float* dst) {
  if (n == 0) return;
  launch_plain(f16_to_f32_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, reinterpret_cast<const __half*>(src), n, dst);
  check_launch("f16_to_f32");
}

void launch_swiglu(const float* gate, const float* up, int64_t n, float* out) {
  if (n == 0) return;
  launch_chained(swiglu_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, gate, up, n, out);
  check_launch("swiglu");
}

void launch_add(const float* a, const float* b, int64_t n, float* out) {
  if (n == 0) return;
  launch_chained(add_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, a, b, n, out);
  check_launch("add");
}

void launch_scale(float* x, int64_t n, float s) {
  if (n == 0) return;
  launch_chained(scale_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, x, n, s);
  check_launch("scale");
}

}  // namespace greta::cuda
