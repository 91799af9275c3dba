// The tensor-core prefill route with the weight dequantization inside the GEMM, for the
// formats of a Q4_K_M model (Q4_K, Q6_K). The two-step route (cuda_matmul_mma.cu) writes
// every weight as f16 to device memory and reads it back; here a block copies the raw
// block bytes of its weight tile per 64-wide K step (cp.async ring, beside the f16
// activation tile), dequantizes them to f16 into a swizzled shared tile, and runs the same
// warp sub-steps as the two-step GEMM on it. Each weight takes the same f32 expression as
// cuda_dequant.cuh and the same f16 rounding, and each output the same mma sequence in
// the same K order, so the result is the two-step route's, bit for bit.
// Not wired into CudaBackend::matmul yet: it measured slower than the two steps (NOTES.md).
//
// Warp roles: the mma warps (as in the two-step GEMM) never wait on the dequantization's
// arithmetic; BM producer threads (one per weight row) copy the raw bytes of their row and
// their share of the activation tile (cp.async ring of STAGES), dequantize their row of
// step kt into A buffer kt&1 and signal it full; the mma warps signal it empty when done.
// Named barriers: FULL(b) = 1 + b, EMPTY(b) = 3 + b, each over all threads of the block.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>

#include "backend/cuda/cuda_dequant.cuh"
#include "backend/cuda/cuda_mma.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

using namespace mma;

// Raw bytes of one weight row for one K step (64 weights = a quarter super-block), as
// 16-byte chunks whose global offsets (from the row's start) chunk() gives.
template <TensorType T>
struct Raw;

// Q4_K (144-byte blocks, 16-byte aligned): the head (d, dmin, 12 scale bytes) and the 32
// code bytes of sub-blocks 2p, 2p+1 (low and high nibbles).
template <>
struct Raw<TensorType::Q4_K> {
  static constexpr int kChunks = 3;
  __device__ static int64_t chunk(int64_t row_off, int kt, int c) {
    return row_off + (kt >> 2) * 144 + (c == 0 ? 0 : 16 + 32 * (kt & 3) + 16 * (c - 1));
  }
};

// Q6_K (210-byte blocks, only 2-byte aligned): the aligned chunks covering the 64 ql bytes
// of half h (5 chunks), its 32 qh bytes (3) and the scales + d (2). Every chunk holds at
// least one byte of the block, so none reaches past the weights' last 16-byte line.
template <>
struct Raw<TensorType::Q6_K> {
  static constexpr int kChunks = 10;
  __device__ static int64_t chunk(int64_t row_off, int kt, int c) {
    const int64_t bb = row_off + (kt >> 2) * 210;
    const int64_t start = (bb & ~int64_t{15}) + (c < 5 ? 64 * ((kt >> 1) & 1) + 16 * c
                                                  : c < 8 ? 128 + 32 * ((kt >> 1) & 1) + 16 * (c - 5)
                                                          : 192 + 16 * (c - 8));
    return start;
  }
};

// A thread's groups c0 .. c0+G-1 (8 weights each) of one row of K step kt, from the raw
// chunks at `raw`. `s` is the block's start modulo 16 (Q6_K; Q4_K blocks are aligned).
template <TensorType T>
struct Dq;

template <>
struct Dq<TensorType::Q4_K> {
  float a, mb;
  const uint8_t* q;
  int shift;
  __device__ __forceinline__ Dq(const uint8_t* raw, int kt, int c0, int /*s*/) {
    int sc, m;
    scale_min_k4(2 * (kt & 3) + c0 / 4, raw + 4, sc, m);
    a = half_bits_to_float(load_u16(raw)) * static_cast<float>(sc);
    mb = half_bits_to_float(load_u16(raw + 2)) * static_cast<float>(m);
    q = raw + 16 + 8 * (c0 % 4);
    shift = 4 * (c0 / 4);
  }
  __device__ __forceinline__ uint4 group(int i) const {
    const uint2 qq = *reinterpret_cast<const uint2*>(q + 8 * i);
    const uint32_t lo = (qq.x >> shift) & 0x0F0F0F0Fu, hi = (qq.y >> shift) & 0x0F0F0F0Fu;  // four codes each
    float v[8];
    v[0] = fmaf(a, byte_code_to_float<0>(lo, 0.0f), -mb);
    v[1] = fmaf(a, byte_code_to_float<1>(lo, 0.0f), -mb);
    v[2] = fmaf(a, byte_code_to_float<2>(lo, 0.0f), -mb);
    v[3] = fmaf(a, byte_code_to_float<3>(lo, 0.0f), -mb);
    v[4] = fmaf(a, byte_code_to_float<0>(hi, 0.0f), -mb);
    v[5] = fmaf(a, byte_code_to_float<1>(hi, 0.0f), -mb);
    v[6] = fmaf(a, byte_code_to_float<2>(hi, 0.0f), -mb);
    v[7] = fmaf(a, byte_code_to_float<3>(hi, 0.0f), -mb);
    return pack8(v);
  }
};

template <>
struct Dq<TensorType::Q6_K> {
  const uint8_t *ql, *qh, *sc;
  float d;
  int lshift, hshift, c0;
  __device__ __forceinline__ Dq(const uint8_t* raw, int kt, int c0_, int s) : c0(c0_) {
    const int p = kt & 3, quarter = 2 * (p & 1) + c0 / 4;
    ql = raw + s + 32 * (c0 / 4) + 8 * (c0 % 4);  // ql byte 64h + 32(quarter&1) + l0
    qh = raw + 80 + s + 8 * (c0 % 4);              // qh byte 128 + 32h + l0
    const uint8_t* tail = raw + 128 + s;           // block byte 192 onwards
    d = half_bits_to_float(load_u16(tail + 16));
    sc = tail + 4 * p;
    lshift = quarter < 2 ? 0 : 4;
    hshift = 2 * quarter;
  }
  __device__ __forceinline__ uint4 group(int i) const {
    const float a = d * static_cast<float>(static_cast<int8_t>(sc[(c0 + i) >> 1]));
    uint32_t l_lo, l_hi, h_lo, h_hi;
    load8_align2(ql + 8 * i, l_lo, l_hi);
    load8_align2(qh + 8 * i, h_lo, h_hi);
    // Four 6-bit codes per word: low nibbles | two high bits << 4.
    const uint32_t c_lo = ((l_lo >> lshift) & 0x0F0F0F0Fu) | (((h_lo >> hshift) & 0x03030303u) << 4);
    const uint32_t c_hi = ((l_hi >> lshift) & 0x0F0F0F0Fu) | (((h_hi >> hshift) & 0x03030303u) << 4);
    float v[8];
    v[0] = a * byte_code_to_float<0>(c_lo, 32.0f);
    v[1] = a * byte_code_to_float<1>(c_lo, 32.0f);
    v[2] = a * byte_code_to_float<2>(c_lo, 32.0f);
    v[3] = a * byte_code_to_float<3>(c_lo, 32.0f);
    v[4] = a * byte_code_to_float<0>(c_hi, 32.0f);
    v[5] = a * byte_code_to_float<1>(c_hi, 32.0f);
    v[6] = a * byte_code_to_float<2>(c_hi, 32.0f);
    v[7] = a * byte_code_to_float<3>(c_hi, 32.0f);
    return pack8(v);
  }
};

template <TensorType T, int BM, int BN, int WM, int WN, int STAGES>
struct FusedTile {
  static constexpr int kMmaThreads = 32 * (BM / WM) * (BN / WN);
  static constexpr int kThreads = kMmaThreads + BM;  // + one producer thread per weight row
  static constexpr int kRawRow = 16 * Raw<T>::kChunks;
  static constexpr int kRawBytes = BM * kRawRow;
  static constexpr int kABytes = BM * 128;  // one f16 weight tile
  static constexpr int kStageBytes = kRawBytes + BN * 128;
  static constexpr int kSmem = 2 * kABytes + STAGES * kStageBytes;
  static_assert(BM % 32 == 0 && (BN * 8) % BM == 0, "whole producer warps, whole activation chunks each");
  static_assert(STAGES >= 3, "stage kt+STAGES-2 is requested while step kt-1 may still be read");
};

__device__ __forceinline__ void bar_sync(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
__device__ __forceinline__ void bar_arrive(int id, int n) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}

template <TensorType T, int BM, int BN, int WM, int WN, int STAGES, int MINB>
__global__ void __launch_bounds__(FusedTile<T, BM, BN, WM, WN, STAGES>::kThreads, MINB)
    gemm_fused_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int n_rows, const __half* __restrict__ x,
                      int n_tokens, int k, float* __restrict__ y, int64_t ldy) {
  using P = FusedTile<T, BM, BN, WM, WN, STAGES>;
  constexpr int kAll = P::kThreads;
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x;
  const int t0 = blockIdx.x * BN, r0 = blockIdx.y * BM;
  const uint32_t base = smem_addr(smem);
  const int k_tiles = k / kBK;
  auto stage_off = [](int s) { return 2 * P::kABytes + s * P::kStageBytes; };

  if (tid < P::kMmaThreads) {
    // mma warps: step kt from A buffer kt&1 and the activation tile of ring slot kt%STAGES.
    const int lane = tid & 31, warp = tid >> 5;
    const int wm0 = (warp % (BM / WM)) * WM, wn0 = (warp / (BM / WM)) * WN;
    WarpTile<WM, WN> wt(wm0, wn0, lane);
    for (int kt = 0; kt < k_tiles; ++kt) {
      bar_sync(1 + (kt & 1), kAll);
      const uint32_t a_base = base + (kt & 1) * P::kABytes, b_base = base + stage_off(kt % STAGES) + P::kRawBytes;
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) wt.step(a_base, b_base, kk);
      if (kt + 2 < k_tiles) bar_arrive(3 + (kt & 1), kAll);
    }
    wt.store(r0 + wm0, t0 + wn0, lane, n_rows, n_tokens, y, ldy);
    return;
  }

  // Producer thread of tile row pr: copies its row's raw chunks (so its own wait_group
  // makes them visible to it) and BN*8/BM activation chunks per stage.
  const int pr = tid - P::kMmaThreads;
  const bool row_ok = r0 + pr < n_rows;
  const int64_t row_off = row_ok ? static_cast<int64_t>(r0 + pr) * row_bytes : 0;
  auto load = [&](int kt) {
    const uint32_t raw_base = base + stage_off(kt % STAGES), b_base = raw_base + P::kRawBytes;
#pragma unroll
    for (int c = 0; c < Raw<T>::kChunks; ++c)
      cp_async16(raw_base + pr * P::kRawRow + 16 * c, w + (row_ok ? Raw<T>::chunk(row_off, kt, c) : 0), row_ok);
    const int64_t k0 = static_cast<int64_t>(kt) * kBK;
#pragma unroll
    for (int i = 0; i < BN * 8 / BM; ++i) {
      const int idx = pr + i * BM, r = idx >> 3, c = idx & 7;
      const bool ok = t0 + r < n_tokens;
      const __half* src = x + (ok ? static_cast<int64_t>(t0 + r) * k + k0 + c * 8 : 0);
      cp_async16(b_base + tile_offset(r, c), src, ok);
    }
  };
  const uint32_t row_lo = static_cast<uint32_t>(row_off);
#pragma unroll
  for (int s = 0; s < STAGES - 2; ++s) {
    if (s < k_tiles) load(s);
    cp_async_commit();
  }
  for (int kt = 0; kt < k_tiles; ++kt) {
    if (kt >= 2) bar_sync(3 + (kt & 1), kAll);  // step kt-2 is done: A buffer kt&1 and slot (kt-2)%STAGES are free
    if (kt + STAGES - 2 < k_tiles) load(kt + STAGES - 2);
    cp_async_commit();
    cp_async_wait<STAGES - 2>();  // this thread's copies of stage kt have landed
    const int s = T == TensorType::Q6_K ? static_cast<int>((row_lo + static_cast<uint32_t>(kt >> 2) * 210u) & 15u) : 0;
    const uint8_t* raw = smem + stage_off(kt % STAGES) + pr * P::kRawRow;
    uint4* a_row = reinterpret_cast<uint4*>(smem + (kt & 1) * P::kABytes);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const Dq<T> dq(raw, kt, 4 * half, s);
#pragma unroll
      for (int i = 0; i < 4; ++i) a_row[tile_offset(pr, 4 * half + i) / 16] = dq.group(i);
    }
    bar_arrive(1 + (kt & 1), kAll);
  }
  cp_async_wait<0>();
}

template <TensorType T, int BM, int BN, int WM, int WN, int STAGES, int MINB>
void run_fused(const uint8_t* w, int64_t row_bytes, int n_rows, const __half* x, int n_tokens, int k, float* y,
               int64_t ldy) {
  using P = FusedTile<T, BM, BN, WM, WN, STAGES>;
  auto kernel = gemm_fused_kernel<T, BM, BN, WM, WN, STAGES, MINB>;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, P::kSmem), "gemm_fused smem");
  const dim3 grid((n_tokens + BN - 1) / BN, (n_rows + BM - 1) / BM);
  kernel<<<grid, P::kThreads, P::kSmem>>>(w, row_bytes, n_rows, x, n_tokens, k, y, ldy);
}

template <TensorType T>
void run_fused_variant(int variant, const uint8_t* w, int64_t row_bytes, int n_rows, const __half* x, int n_tokens,
                       int k, float* y, int64_t ldy) {
  switch (variant) {
    case 1: run_fused<T, 128, 128, 64, 32, 4, 1>(w, row_bytes, n_rows, x, n_tokens, k, y, ldy); break;
    case 2: run_fused<T, 128, 128, 64, 32, 5, 1>(w, row_bytes, n_rows, x, n_tokens, k, y, ldy); break;
    case 3: run_fused<T, 64, 64, 32, 32, 4, 1>(w, row_bytes, n_rows, x, n_tokens, k, y, ldy); break;
    default: run_fused<T, 64, 128, 32, 32, 4, 1>(w, row_bytes, n_rows, x, n_tokens, k, y, ldy); break;
  }
}

}  // namespace

bool launch_matmul_fused(TensorType type, const void* w, int64_t row_bytes, int64_t n_rows, int64_t k,
                         const uint16_t* x16, int64_t n_tokens, float* y, int64_t ldy, int variant) {
  if (type != TensorType::Q4_K && type != TensorType::Q6_K) return false;
  // Q4_K chunks are read from 16-byte aligned blocks; Q6_K's chunk arithmetic assumes the
  // weights start on a 16-byte line.
  if (reinterpret_cast<uintptr_t>(w) % 16 != 0 || k % 256 != 0) return false;
  if (type == TensorType::Q4_K && row_bytes % 16 != 0) return false;
  if (n_rows > INT32_MAX || n_tokens > INT32_MAX || k > INT32_MAX)
    throw std::runtime_error("gemm_fused: dimensions beyond 32-bit indices");
  if (n_rows == 0 || n_tokens == 0) return true;
  if (k == 0) {
    check(cudaMemset2DAsync(y, ldy * sizeof(float), 0, n_rows * sizeof(float), n_tokens), "gemm_fused zero");
    return true;
  }
  if (variant == 0) {
    // By tile count against the multiprocessors, as in the two-step GEMM (measurements in NOTES.md).
    int device = 0, sms = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "multiprocessor count");
    const int64_t tiles = ((n_rows + 127) / 128) * ((n_tokens + 127) / 128);
    variant = 2 * tiles < sms ? 3 : 1;
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* x = reinterpret_cast<const __half*>(x16);
  const int rows = static_cast<int>(n_rows), tokens = static_cast<int>(n_tokens), kk = static_cast<int>(k);
  if (type == TensorType::Q4_K)
    run_fused_variant<TensorType::Q4_K>(variant, wb, row_bytes, rows, x, tokens, kk, y, ldy);
  else
    run_fused_variant<TensorType::Q6_K>(variant, wb, row_bytes, rows, x, tokens, kk, y, ldy);
  check_launch("gemm_fused");
  return true;
}

}  // namespace greta::cuda
