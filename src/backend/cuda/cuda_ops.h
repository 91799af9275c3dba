#pragma once
// Launchers of the CUDA kernels, called by CudaBackend. Pointers are device memory unless
// a parameter says otherwise; every launcher queues its work on this thread's launch queue
// (cuda_step_record.h: the default stream unless a step is being recorded or captured) and
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
// sum = a + b, then out = rmsnorm(sum): launch_add and launch_rmsnorm in one kernel, same bits.
void launch_add_rmsnorm(const float* a, const float* b, float* sum, const float* g, float eps, int64_t rows,
                        int64_t cols, float* out);

// How many leading elements of each row (a multiple of 8; the rest go element by element)
// the matrix kernels may read with vector loads: all of k when rows and activations are
// 16-byte aligned, none for an F32/F16/BF16 matrix that is not, and whole blocks always
// for quantized formats (their kernels read codes 2, 8 or 16 bytes at a time; activations
// must then be 16-byte aligned rows, which the backend checks).
int64_t vector_width(TensorType type, const void* w, int64_t row_bytes, int64_t k, const float* x, int64_t ldx);

// y[t][r] = Σ_k W[r][k] x[t][k] for r < n_rows, t < n_tokens; x and y rows are ldx / ldy apart.
void launch_gemv(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t ldx, int64_t n_tokens, float* y, int64_t ldy);
// The fast precision's matrix-vector route on tensor cores (cuda_gemv_f16.cu): the f16
// weights of launch_dequant_f16 times the activations rounded to f16, summed in f32, for
// every format (Q4_K, Q5_K, Q6_K; F16, BF16, Q8_0 and Q4_0 with k a multiple of 128, F32
// with k a multiple of 64) with 16-byte aligned activation rows.
bool gemv_f16_supported(TensorType type, int64_t k, const float* x, int64_t ldx);
// One launch for 1-3 matrices of one format and width k that multiply the same x.
struct GemvTarget {
  const void* w;
  int64_t row_bytes, n_rows;
  float* y;
  int64_t ldy;
};
// The product launched after a one-token product (its targets; pair: gate and up of a
// SwiGLU launch). The streamed kernel, given it, prefetches its first tiles into L2 once
// its own weight copies are issued (cuda_gemv_f16.cu), so that memory keeps working while
// its blocks finish and the next product's blocks take their place.
struct NextProduct {
  GemvTarget t[3];
  int n = 0;
  bool pair = false;
};
void launch_gemv_f16_group(TensorType type, const GemvTarget* targets, int n, int64_t k, const float* x, int64_t ldx,
                           int64_t n_tokens, const NextProduct* next = nullptr);
// The add + rmsnorm between two one-token products of a decode step, split over the two
// streamed launches instead of a kernel of its own on the step's chain of dependencies
// (CudaOptions::norm_parts):
// - the product that computes b (o, down) stores b and, at its tile ends, sum_out =
//   `residual` (a) + b and the sum of squares (double) of each 16-row tile's sum_out rows
//   in sums_out[tile];
// - the next product (q, k, v; gate + up; the logits) takes that a + b as x, sums the
//   n_sums tile sums in a fixed order, stages rms(x) · gain as its input (the rmsnorm
//   kernel's expressions) and, in block 0, also stores that row in `out` for later readers.
// Either side or both; all null: a plain launch. 56 bytes, no padding (step records).
struct NormLink {
  const float* residual = nullptr;  // producing side; nullptr: rows stored as computed
  float* sum_out = nullptr;
  double* sums_out = nullptr;
  const double* sums_in = nullptr;  // consuming side; nullptr: x staged as it is
  const float* gain = nullptr;
  float* out = nullptr;
  int n_sums = 0;
  float eps = 0.0f;
};
// Rows a NormLink's consuming side takes (its staging holds four float4 entries a thread).
constexpr int64_t kNormLinkMaxCols = 4096;
// One token, one streamed launch of 1-3 matrices of one format with `link`'s sides (the
// producing side: one matrix); false, and nothing launched, where the streamed kernel
// does not apply (then the caller launches the plain product and the add + rmsnorm).
bool launch_gemv_f16_linked(TensorType type, const GemvTarget* targets, int n, int64_t k, const float* x,
                            const NextProduct* next, const NormLink& link);
// The consuming side's row on its own (when no streamed launch takes it): out = rms(x) ·
// gain with the scale from the n_sums tile sums, the bits the consuming launch stages.
void launch_rmsnorm_from_tile_sums(const float* x, const double* sums, int n_sums, const float* g, float eps,
                                   int64_t cols, float* out);
// One launch for one token's products of two formats sharing x (Q4_K targets, then Q6_K
// ones, 1-3 in all; each row with its own format's bits); false, and nothing launched,
// where that is not supported (other formats, more tokens, long rows, before sm_90).
bool launch_gemv_f16_two_formats(TensorType type, const GemvTarget* targets, int n, TensorType type2,
                                 const GemvTarget* targets2, int n2, int64_t k, const float* x, int64_t n_tokens,
                                 const NextProduct* next = nullptr, const NormLink& link = {});
// One token's gate and up products (one format, one shape) in one launch that also writes
// act = silu(gate) · up: gate, up and act get the bits of the two products and the swiglu
// kernel. false, and nothing launched, where not supported (other formats, rows that are
// not whole 2048-weight chunks, before sm_90).
bool launch_gemv_f16_swiglu(TensorType type, const GemvTarget& gate, const GemvTarget& up, float* act, int64_t k,
                            const float* x, const NextProduct* next = nullptr, const NormLink& link = {});
void launch_gemm(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t ldx, int64_t n_tokens, float* y, int64_t ldy);

// The decode chain (cuda_decode_chain.cu): the one-token products of a stretch of a decode
// step (o, gate + up, down, the next layer's q, k, v) in one persistent launch, with the
// add + rmsnorm or SwiGLU before a product computed while its input is staged. A producer
// warp per multiprocessor streams the weights of every product in turn, so the copies of a
// product start while the one before it still computes, and the stages meet at a barrier
// over the grid instead of a kernel boundary. Each row keeps the streamed GEMV's bits and
// each row op the stand-alone kernel's (cuda_row_ops.cuh).
struct ChainInput {
  enum Kind : int64_t { Plain = 0, AddNorm = 1, Swiglu = 2 };
  int64_t kind = Plain;
  const float* x = nullptr;     // Plain: the input row; AddNorm: a; Swiglu: gate
  const float* x2 = nullptr;    // AddNorm: b; Swiglu: up
  float* sum_out = nullptr;     // AddNorm: a + b is written here
  const float* gain = nullptr;  // AddNorm: the rmsnorm weight
  float* out = nullptr;         // AddNorm: rmsnorm(a + b); Swiglu: silu(gate) * up; written here
  int64_t cols = 0;             // AddNorm, Swiglu: the row's length
  float eps = 0;                // AddNorm
};
struct ChainProduct {
  TensorType type;
  GemvTarget targets[3];
  int n;
  int64_t k;
  ChainInput input;  // the products of a group share it
};
constexpr int kChainMaxProducts = 8;
// Whether a product of this format and width may join a chain on this device, and an
// input of this kind (AddNorm: rows up to 4096 and a multiple of 256, both: a multiple of 4
// wide, as wide as k).
bool decode_chain_supported(TensorType type, int64_t k);
bool decode_chain_input_supported(const ChainInput& in, int64_t k);
// Whether these products fit one launch (the ring of the widest format, the largest input).
bool decode_chain_fits(const ChainProduct* products, int n);
// The products in order; counters: two zeroed words of device memory, zero again after
// the launch (the grid's barrier and exit counts); silu: room for silu_floats floats,
// where a SwiGLU's silu(gate) is kept when the chain also computes the gate (may be null).
void launch_decode_chain(const ChainProduct* products, int n, unsigned* counters, float* silu, int64_t silu_floats);

// The tensor-core prefill route: both operands rounded to f16 (round to nearest) in rows of
// k_pad = mma_k_padded(k) elements, zeros past k, products accumulated in f32 on the
// tensor cores. f16 values travel as uint16_t bit patterns to keep CUDA types out of here.
constexpr int64_t kMmaKAlign = 64;
inline int64_t mma_k_padded(int64_t k) { return (k + kMmaKAlign - 1) / kMmaKAlign * kMmaKAlign; }
// out[r][0..k_pad) = the fast precision's f16 weights (cuda_dequant_f16.cuh), zeros past k.
void launch_dequant_f16(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k, uint16_t* out);
// out[t][0..k_pad) = f16(x[t][k]), zeros past k; x rows are ldx floats apart.
void launch_to_f16(const float* x, int64_t ldx, int64_t n_tokens, int64_t k, uint16_t* out);
// y[t][r] = Σ_k w16[r][k] · x16[t][k] (f32 accumulation) for r < n_rows, t < n_tokens; y rows ldy apart.
// On Hopper, products of at least a quarter wave of 128×64 tiles run on the wgmma kernel,
// the rest on the mma.sync one; the two round alike but sum in different orders.
void launch_gemm_f16(const uint16_t* w16, int64_t n_rows, const uint16_t* x16, int64_t n_tokens, int64_t k_pad, float* y,
                     int64_t ldy);
// The mma.sync kernel alone (any device; the fallback under launch_gemm_f16).
void launch_gemm_f16_mma(const uint16_t* w16, int64_t n_rows, const uint16_t* x16, int64_t n_tokens, int64_t k_pad,
                         float* y, int64_t ldy);
// The wgmma kernel alone (cuda_matmul_wgmma.cu); false, queuing nothing, where it cannot run
// (not an sm_90 device, operands off 16-byte alignment). `variant` picks the tile for tests
// and benchmarks: 0 by shape (also false for products too small for it);
// 1: 128 weight rows × 128 tokens, six stages; 2: 128 × 256 tokens, four stages; 3: 128
// tokens × 256 weight rows; 4: 128 × 128, four stages;
// 5: 128 × 64 tokens, eight stages; 6, 7: 2 and 1 on a persistent grid.
bool launch_gemm_f16_wgmma(const uint16_t* w16, int64_t n_rows, const uint16_t* x16, int64_t n_tokens,
                           int64_t k_pad, float* y, int64_t ldy, int variant = 0);

// cos_sin: [rows][rope_dim/2][2] in device memory.
void launch_rope(float* x, int64_t rows, int64_t cols, int head_dim, int rope_dim, const float* cos_sin);
// cache rows pos[i] of k_cache / v_cache (kv_dim wide) = k[i] / v[i]; an f16 cache
// (kv_f16) stores them rounded to nearest f16, an f32 cache stores them as they are.
void launch_kv_store(const float* k, const float* v, int64_t rows, int64_t kv_dim, const int32_t* pos, void* k_cache,
                     void* v_cache, bool kv_f16);
// dst[i] = float(src[i]) for n f16 values.
// launch_rope of q and of k, then launch_kv_store, in one kernel (same bits); head_dim even.
void launch_rope_qk_store(float* q, float* k, const float* v, int64_t rows, int64_t q_cols, int64_t kv_dim,
                          int head_dim, int rope_dim, const float* cos_sin, const int32_t* pos, void* k_cache,
                          void* v_cache, bool kv_f16);
void launch_f16_to_f32(const uint16_t* src, int64_t n, float* dst);

struct AttentionArgs {
  const float* q = nullptr;  // [rows][n_heads * head_dim]
  const void* k_cache = nullptr;  // [n_ctx][kv_dim], f16 when kv_f16 else f32
  const void* v_cache = nullptr;
  bool kv_f16 = false;
  int64_t kv_dim = 0;
  int64_t n_ctx = 0;  // the cache's rows
  const int32_t* pos = nullptr;  // device, one per row: keys 0..pos[i]
  int64_t rows = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int kv_shift = 0;
  float* out = nullptr;  // [rows][n_heads * head_dim]
  // The flash-attention prefill's activation handling in the decode kernel of the f16
  // cache: q rounded to f16, scores scaled by log2(e)/sqrt(d), exp2. The two routes then
  // differ only in the order of their sums.
  bool f16_operands = false;
};
// Which kernel takes the split launches of the f16 kernel in the fast precision (sm_90,
// head_dim 64 or 128; the same sums in other orders): Registers keeps them on the register
// kernel; TensorCores streams the cache rows through shared memory and multiplies on the
// tensor cores, segments merged by a combine pass; Cluster does so with each (row, GQA
// group)'s segments as the blocks of one cluster, which merge them themselves (at most 16
// segments, where the device keeps all clusters resident at once; TensorCores otherwise).
enum class SplitKernel { Registers, TensorCores, Cluster };
// The kernel that takes a's split launches over max_keys keys when `wanted` is asked for:
// TensorCores instead of Cluster where the cluster launch does not apply or its segments
// would be too long to pay (past 1280 keys each: 11520 keys over 9 on an H200).
SplitKernel split_kernel_for(const AttentionArgs& a, SplitKernel wanted, int64_t max_keys);
// Splits each row's keys into n_splits segments of split_len keys (a multiple of 128),
// or, with split_len 0 (only where attention_even_segments), into n_splits segments of
// equal length cut on the device from the row's own key count; with n_splits > 1,
// `partial` holds rows*n_heads*n_splits*(head_dim+2) floats and a second pass combines
// the segments (unless the cluster launch merges them).
void launch_attention(const AttentionArgs& a, int n_splits, int64_t split_len, float* partial, SplitKernel kind);
// Whether that launch needs `partial` (several segments, not merged inside a cluster).
bool attention_takes_partials(const AttentionArgs& a, int n_splits, int64_t split_len, SplitKernel kind);
// Whether launch_attention takes a's rows to the f16 kernel, which can cut even segments.
bool attention_even_segments(const AttentionArgs& a);
// For that kernel: the segments a row may have with all blocks resident at once (1 to 64;
// for the cluster launch, its cap), for launch_attention with the same `kind`.
int attention_segments_in_one_wave(const AttentionArgs& a, SplitKernel kind);
// Prefill attention on tensor cores (flash attention): needs an f16 cache and head_dim a
// multiple of 8 up to 128. Query tiles × key tiles with an online softmax in f32; q is
// rounded to f16 for the q·k products and each probability to f16 for the p·v products,
// both accumulated in f32; causal by pos[i] (keys 0..pos[i]); GQA; O(rows) memory.
bool flash_attention_supported(int head_dim);
void launch_flash_attention(const AttentionArgs& a);

void launch_swiglu(const float* gate, const float* up, int64_t n, float* out);
void launch_add(const float* a, const float* b, int64_t n, float* out);
void launch_scale(float* x, int64_t n, float s);

}  // namespace greta::cuda
