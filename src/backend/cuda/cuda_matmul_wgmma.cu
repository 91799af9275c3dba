// The Hopper GEMM of the tensor-core prefill route: y[t][r] = Σ_k w16[r][k] x16[t][k], f16
// operands, f32 accumulation, on warpgroup MMA (wgmma, sm_90a).
//
// A block computes 128 rows of the M operand × BN rows of the N operand (each operand is
// K-contiguous, so both are K-major for wgmma). Warpgroup 0 is the producer: one thread
// issues bulk tensor copies (TMA) of 64-wide K tiles into a STAGES-deep ring, each stage
// completing on its `full` mbarrier; warpgroups 1 and 2 each own 64 M rows, run four
// m64nBNk16 wgmmas per stage straight from the swizzled tiles, and release the stage on its
// `empty` mbarrier once the wgmmas reading it have retired. Rows past the matrices' ends
// arrive as zeros from TMA and are not stored. Large products run on a persistent grid
// (one block per multiprocessor walking the tiles).
//
// Built only for sm_90a (CMakeLists.txt compiles this file apart with that target and
// defines GRETA_WGMMA); elsewhere the launcher answers false and the caller takes the
// mma.sync kernel (cuda_matmul_mma.cu).
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <mutex>
#include <stdexcept>

#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_tensor_map.h"
#include "backend/cuda/cuda_wgmma.cuh"

namespace greta::cuda {
namespace {

constexpr int kBM = 128;         // M rows per block: two consumer warpgroups of 64
constexpr int kThreads = 384;    // producer warpgroup + two consumers
constexpr int kTileRow = 128;    // bytes of one 64-half K row

template <int BN, int STAGES>
struct Layout {
  static constexpr int kABytes = kBM * kTileRow, kBBytes = BN * kTileRow;
  static constexpr int kStage = kABytes + kBBytes;
  // Tiles, then 2·STAGES mbarriers; 1 KB of slack to round the base up to a swizzle atom.
  static constexpr int kSmem = STAGES * kStage + 2 * STAGES * 8 + 1024;
};

template <int BN>
__device__ __forceinline__ void mma_k16(float (&acc)[BN / 2], uint64_t a, uint64_t b) {
  if constexpr (BN == 64) wg::wgmma_m64n64k16(acc, a, b);
  else if constexpr (BN == 128) wg::wgmma_m64n128k16(acc, a, b);
  else wg::wgmma_m64n256k16(acc, a, b);
}

// kAisW: the weights are the M operand (tm_a = weights, tm_b = tokens), else the tokens.
// Tiles are numbered with the token tile fastest, so neighbouring blocks share one weight
// tile in L2. kPersistent: a grid of one block per multiprocessor walks the tiles, and the
// producer fills the next tile's stages while the consumers store the last one.
template <int BN, int STAGES, bool kPersistent, bool kAisW>
__global__ void __launch_bounds__(kThreads, 1)
    wgmma_gemm_kernel(const __grid_constant__ CUtensorMap tm_a, const __grid_constant__ CUtensorMap tm_b, int m,
                      int n, int k_tiles, float* __restrict__ y, int64_t ldy) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using L = Layout<BN, STAGES>;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t base = (static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw)) + 1023u) & ~1023u;
  const uint32_t bars = base + STAGES * L::kStage;  // full[s] at bars + 8s, empty[s] after them
  const int wg_id = threadIdx.x / 128;
  const int mt = (m + kBM - 1) / kBM, nt = (n + BN - 1) / BN, tiles = mt * nt;
  auto origin = [&](int tile, int& m0, int& n0) {
    m0 = (kAisW ? tile / nt : tile % mt) * kBM;
    n0 = (kAisW ? tile % nt : tile / mt) * BN;
  };
  const int stride = kPersistent ? gridDim.x : tiles;

  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; ++s) {
      wg::mbar_init(bars + 8 * s, 1);                 // the producer's expect_tx arrival
      wg::mbar_init(bars + 8 * (STAGES + s), 8);      // one arrival per consumer warp
    }
    wg::mbar_fence_init();
  }
  __syncthreads();

  // Register split: the producer needs a handful, the consumers hold BN/2 accumulators.
  // `it` counts K tiles over all of the block's tiles: slot it % STAGES, use it / STAGES.
  constexpr int kProducerRegs = 40, kConsumerRegs = 232;
  if (wg_id == 0) {
    wg::setmaxnreg_dec<kProducerRegs>();
    if (threadIdx.x == 0) {
      wg::tma_prefetch_desc(&tm_a);
      wg::tma_prefetch_desc(&tm_b);
      int it = 0;
      for (int tile = blockIdx.x; tile < tiles; tile += stride) {
        int m0, n0;
        origin(tile, m0, n0);
        for (int kt = 0; kt < k_tiles; ++kt, ++it) {
          const int s = it % STAGES;
          // Use j of slot s waits for the consumers' release of use j-1 (phase j-1).
          if (it >= STAGES) wg::mbar_wait(bars + 8 * (STAGES + s), ((it / STAGES) - 1) & 1);
          const uint32_t full = bars + 8 * s, a_dst = base + s * L::kStage;
          wg::mbar_arrive_expect_tx(full, L::kStage);
          wg::tma_load_2d(a_dst, &tm_a, full, kt * 64, m0);
          wg::tma_load_2d(a_dst + L::kABytes, &tm_b, full, kt * 64, n0);
        }
      }
    }
  } else {
    wg::setmaxnreg_inc<kConsumerRegs>();
    const uint32_t a_off = (wg_id - 1) * 64 * kTileRow;
    const int lane = threadIdx.x & 31;
    int it = 0;
    for (int tile = blockIdx.x; tile < tiles; tile += stride) {
      int m0, n0;
      origin(tile, m0, n0);
      float acc[BN / 2];
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
      for (int kt = 0; kt < k_tiles; ++kt, ++it) {
        const int s = it % STAGES;
        wg::mbar_wait(bars + 8 * s, (it / STAGES) & 1);
        const uint32_t a = base + s * L::kStage + a_off, b = base + s * L::kStage + L::kABytes;
        wg::fence_regs(acc);
        wg::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) mma_k16<BN>(acc, wg::smem_desc(a + kk * 32), wg::smem_desc(b + kk * 32));
        wg::wgmma_commit();
        // Keep this stage's wgmmas in flight; the previous stage's have retired: free it.
        wg::wgmma_wait<1>();
        wg::fence_regs(acc);
        if (kt > 0 && lane == 0) wg::mbar_arrive(bars + 8 * (STAGES + (it - 1) % STAGES));
      }
      wg::wgmma_wait<0>();
      wg::fence_regs(acc);
      if (lane == 0) wg::mbar_arrive(bars + 8 * (STAGES + (it - 1) % STAGES));

      // Accumulator i of thread (warp w of the warpgroup, lane 4g+q): M row 16w + g +
      // 8·bit1(i), N column 8·(i/4) + 2q + bit0(i).
      const int w = (threadIdx.x / 32) & 3, g = lane >> 2, q = lane & 3;
      const int mr = m0 + (wg_id - 1) * 64 + 16 * w + g;
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) {
        const int r = mr + 8 * ((i >> 1) & 1), c = n0 + 8 * (i >> 2) + 2 * q + (i & 1);
        if (r < m && c < n) {
          if constexpr (kAisW) y[static_cast<int64_t>(c) * ldy + r] = acc[i];
          else y[static_cast<int64_t>(r) * ldy + c] = acc[i];
        }
      }
    }
  }
#endif
}

// rows × k_pad halves, K contiguous; boxes of 64 halves × box_rows, 128-byte swizzle.
CUtensorMap tensor_map(const void* p, int64_t rows, int64_t k_pad, int box_rows) {
  CUtensorMap map;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k_pad), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k_pad) * 2};
  const cuuint32_t box[2] = {64, static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t elem[2] = {1, 1};
  const CUresult r = tensor_map_encoder()(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, const_cast<void*>(p), dims, strides, box,
                                 elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                 CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw std::runtime_error("gemm_f16_wgmma: cuTensorMapEncodeTiled failed");
  return map;
}

template <int BN, int STAGES, bool kPersistent, bool kAisW>
void run(const void* w, int rows, const void* x, int tokens, int k_pad, float* y, int64_t ldy, int sms) {
  using L = Layout<BN, STAGES>;
  auto kernel = wgmma_gemm_kernel<BN, STAGES, kPersistent, kAisW>;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L::kSmem), "gemm_f16_wgmma smem");
  const CUtensorMap tw = tensor_map(w, rows, k_pad, kAisW ? kBM : BN);
  const CUtensorMap tx = tensor_map(x, tokens, k_pad, kAisW ? BN : kBM);
  const int m = kAisW ? rows : tokens, n = kAisW ? tokens : rows;
  const int tiles = ((m + kBM - 1) / kBM) * ((n + BN - 1) / BN);
  const int grid = kPersistent && tiles > sms ? sms : tiles;
  launch_plain(kernel, dim3(grid), dim3(kThreads), L::kSmem, kAisW ? tw : tx, kAisW ? tx : tw, m, n, k_pad / 64, y, ldy);
}

struct DeviceInfo {
  bool hopper = false;
  int sms = 0;
};

const DeviceInfo& device_info() {
  static std::mutex mu;
  static DeviceInfo infos[64];
  static bool known[64] = {};
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  std::lock_guard<std::mutex> lock(mu);
  if (device < 64 && !known[device]) {
    int major = 0, minor = 0;
    check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "compute capability");
    check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "compute capability");
    check(cudaDeviceGetAttribute(&infos[device].sms, cudaDevAttrMultiProcessorCount, device), "multiprocessors");
    infos[device].hopper = major == 9 && minor == 0;  // sm_90a code runs on exactly 9.0
    known[device] = true;
  }
  static const DeviceInfo none;
  return device < 64 ? infos[device] : none;
}

}  // namespace

bool launch_gemm_f16_wgmma(const uint16_t* w16, int64_t n_rows, const uint16_t* x16, int64_t n_tokens,
                           int64_t k_pad, float* y, int64_t ldy, int variant) {
#ifndef GRETA_WGMMA
  return false;
#else
  if (n_rows <= 0 || n_tokens <= 0 || k_pad <= 0 || k_pad % 64 != 0) return false;
  if (n_rows > INT32_MAX || n_tokens > INT32_MAX || k_pad > INT32_MAX) return false;
  if (reinterpret_cast<uintptr_t>(w16) % 16 != 0 || reinterpret_cast<uintptr_t>(x16) % 16 != 0) return false;
  const DeviceInfo& dev = device_info();
  if (!dev.hopper || tensor_map_encoder() == nullptr) return false;
  const int rows = static_cast<int>(n_rows), tokens = static_cast<int>(n_tokens), kp = static_cast<int>(k_pad);
  if (variant == 0) {
    // The largest tile that still fills a wave (H100, GEMM alone, TFLOP/s): 128×256 from a
    // wave of them on (14336×4096 at 512 tokens: 649 against 540 for 128×128; 4096² at 2048
    // tokens 701 against 580); else 128×128 (4096² at 512 tokens: 621 against 386); else
    // 128×64 (1024×4096 at 512 tokens: 256 against 179, mma.sync 174). Under a quarter wave
    // of those the mma.sync kernel's 64×64 tiles keep more multiprocessors busy. The
    // persistent grid hides the stores under the next tile (4096² at 2048 tokens 701 → 790,
    // 128256×4096 at 512 tokens 728 → 794) and is the same grid when one wave does.
    auto tiles = [&](int64_t bn) { return ((n_rows + 127) / 128) * ((n_tokens + bn - 1) / bn); };
    if (tiles(256) >= dev.sms) variant = 6;
    else if (10 * tiles(128) >= 9 * dev.sms) variant = 7;
    else if (4 * tiles(64) >= dev.sms) variant = 5;
    else return false;
  }
  switch (variant) {
    case 1: run<128, 6, false, true>(w16, rows, x16, tokens, kp, y, ldy, dev.sms); break;
    case 2: run<256, 4, false, true>(w16, rows, x16, tokens, kp, y, ldy, dev.sms); break;
    case 3: run<256, 4, false, false>(w16, rows, x16, tokens, kp, y, ldy, dev.sms); break;
    case 4: run<128, 4, false, true>(w16, rows, x16, tokens, kp, y, ldy, dev.sms); break;
    case 5: run<64, 8, false, true>(w16, rows, x16, tokens, kp, y, ldy, dev.sms); break;
    case 6: run<256, 4, true, true>(w16, rows, x16, tokens, kp, y, ldy, dev.sms); break;
    case 7: run<128, 6, true, true>(w16, rows, x16, tokens, kp, y, ldy, dev.sms); break;
    default: return false;
  }
  check_launch("gemm_f16_wgmma");
  return true;
#endif
}

}  // namespace greta::cuda
