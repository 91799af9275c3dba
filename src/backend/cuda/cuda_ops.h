#pragma once
// Launchers of the CUDA kernels, called by CudaBackend. Pointers are device memory unless
// a parameter says otherwise; every launcher queues its work on the default stream and
// checks the launch (errors surface as std::runtime_error).
#include <cstdint>

#include "greta/tensor_type.h"

namespace greta::cuda {

// Throws with the CUDA error string if `code` is not cudaSuccess (int to keep CUDA headers out).
void check(int code, const char* what);
// Checks the last launch.
void check_launch(const char* kernel);

// out[i][0..cols) = dequantized row tokens[i] of the table.
void launch_embed(TensorType type, const void* table, int64_t row_bytes, int64_t cols, const int32_t* tokens,
                  int64_t n, float* out);
void launch_rmsnorm(const float* x, const float* g, float eps, int64_t rows, int64_t cols, float* out);

// How many leading elements of each row (a multiple of 8; the rest go element by element)
// the matrix kernels may read with vector loads: all of k when rows and activations are
// 16-byte aligned, none for an F32/F16/BF16 matrix that is not, and whole blocks always
// for quantized formats (their kernels read codes 2, 8 or 16 bytes at a time; activations
// must then be 16-byte aligned rows, which the backend checks).
int64_t vector_width(TensorType type, const void* w, int64_t row_bytes, int64_t k, const float* x, int64_t ldx);

// y[t][r] = Σ_k W[r][k] x[t][k] for r < n_rows, t < n_tokens; x and y rows are ldx / ldy apart.
void launch_gemv(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t ldx, int64_t n_tokens, float* y, int64_t ldy);
void launch_gemm(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t ldx, int64_t n_tokens, float* y, int64_t ldy);

// cos_sin: [rows][rope_dim/2][2] in device memory.
void launch_rope(float* x, int64_t rows, int64_t cols, int head_dim, int rope_dim, const float* cos_sin);
// cache rows pos[i] of k_cache / v_cache (kv_dim wide) = k[i] / v[i].
void launch_kv_store(const float* k, const float* v, int64_t rows, int64_t kv_dim, const int32_t* pos, float* k_cache,
                     float* v_cache);

struct AttentionArgs {
  const float* q = nullptr;  // [rows][n_heads * head_dim]
  const float* k_cache = nullptr;
  const float* v_cache = nullptr;
  int64_t kv_dim = 0;
  const int32_t* pos = nullptr;  // device, one per row: keys 0..pos[i]
  int64_t rows = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int kv_shift = 0;
  float* out = nullptr;  // [rows][n_heads * head_dim]
};
// Splits each row's keys into n_splits segments of split_len keys (a multiple of 128);
// with n_splits > 1, `partial` holds rows*n_heads*n_splits*(head_dim+2) floats and a
// second pass combines the segments.
void launch_attention(const AttentionArgs& a, int n_splits, int64_t split_len, float* partial);

void launch_swiglu(const float* gate, const float* up, int64_t n, float* out);
void launch_add(const float* a, const float* b, int64_t n, float* out);
void launch_scale(float* x, int64_t n, float s);

}  // namespace greta::cuda
