// Split decode attention on the tensor cores (see attention_f16_mma_kernel below), and
// its launch: the fast precision's f16 cache, head_dim 64 or 128, sm_90.
#include "backend/cuda/cuda_attention_mma.h"

#include <cooperative_groups.h>
#include <cuda.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "backend/cuda/cuda_attention_parts.cuh"
#include "backend/cuda/cuda_device_limits.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_mbarrier.cuh"
#include "backend/cuda/cuda_mma.cuh"
#include "backend/cuda/cuda_tensor_map.h"
#include "backend/cuda/cuda_wgmma.cuh"

namespace greta::cuda {
namespace {

constexpr int kMaxClusterSegments = 16;  // the largest (non-portable) cluster on sm_90

// The cluster's merge (kCluster below): block r of the n blocks takes outputs
// [r·per, (r+1)·per) of the group's HB heads × HD dims and merges every block's (m, l, O)
// of them in block order, as attention_combine_kernel merges segments: the same
// expressions, so the same bits for the same segments. The barriers before and after keep
// every block's shared memory readable until the last read.
template <int HD, int HB>
__device__ __forceinline__ void merge_cluster(const AttentionArgs& a, int64_t row, int head0, int n, float* bo, float* bm,
                                              float* bl) {
  namespace cg = cooperative_groups;
  const cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  constexpr int kOut = HB * HD, kMax = kMaxClusterSegments;
  const int per = (kOut + n - 1) / n, first = static_cast<int>(cluster.block_rank()) * per;
  for (int i = threadIdx.x; i < per && first + i < kOut; i += blockDim.x) {
    const int t = first + i, h = t / HD;
    float v[kMax], ms[kMax], ls[kMax];
#pragma unroll
    for (int s = 0; s < kMax; ++s) {
      if (s < n) {
        v[s] = *cluster.map_shared_rank(bo + t, s);
        ms[s] = *cluster.map_shared_rank(bm + h, s);
        ls[s] = *cluster.map_shared_rank(bl + h, s);
      }
    }
    float mx = -INFINITY;
#pragma unroll
    for (int s = 0; s < kMax; ++s)
      if (s < n) mx = fmaxf(mx, ms[s]);
    a.out[row * a.n_heads * HD + static_cast<int64_t>(head0) * HD + t] =
        merge_segments<kMax>(n, v, ls, [&](int s) { return merge_weight(ms[s], mx, true); });
  }
  cluster.sync();
}

// Keys a ring stage: 16 for each of CW consumer warps.
template <int CW>
__host__ __device__ constexpr int stage_keys() {
  return 16 * CW;
}

// Split launches in the fast precision (f16 operands), head_dim 64 or 128: q·k and p·v on
// the tensor cores (mma.sync m16n8k16, f32 accumulation), the query heads of the block's
// GQA group as the rows of A (HB ≤ 8 of 16; the other rows are zeros). The segment's key
// and value rows stream through a ring of shared-memory stages of kMmaKeys keys: one
// thread of warp CW copies each stage's K and V rows of the block's KV head with bulk
// tensor copies (kmap, vmap: the caches as [n_ctx][n_kv_heads][head_dim] in boxes of 64
// halves × kBoxRows rows, 128-byte swizzle; rows past the cache's end arrive as zeros;
// evict-first in L2, the cache being read once a step), completing on the stage's full
// barrier. Consumer warp w takes keys 16w..16w+15 of each stage: scores S = q·Kᵀ (lane
// (g, t) holds head g's scores of keys 2t, 2t+1, 8+2t, 9+2t), keys past the segment's end
// masked to −∞, the online softmax in log2 units per head (maximum over the head's four
// lanes), then O += P·V with P as two f16 parts, rn(p) + rn(p − rn(p)), as the flash
// attention prefill does (relative error ≤ 2^-22), values through ldmatrix.trans. Rows
// past the end that a stage holds are finite (the cache starts zeroed) and weigh 0. The
// CW warps' (m, l, O) are merged as in the other kernels. The same sums as the register
// kernel in another order: ~8 times fewer instructions a key (no lane-group reductions).
//
// kCluster: the segments of one (row, group) are the blocks of one cluster (sm_90), and
// instead of writing partial sums for a combine pass, each block leaves its merged (m, l,
// O) in its shared memory and, after a barrier over the cluster, merges a slice of the
// outputs over all the cluster's blocks (distributed shared memory) with the combine
// pass's arithmetic, segment by segment in order. Such launches take CW = 8 consumer warps
// (one block a multiprocessor) and copy each stage in boxes of 32 keys, only those that
// hold the segment's keys.
template <int HD, int HB, int CW, bool kCluster>
__global__ void __launch_bounds__(32 * (CW + 1)) attention_f16_mma_kernel(AttentionArgs a, int n_splits,
                                                                          int64_t split_len, int n_stages,
                                                                          const __grid_constant__ CUtensorMap kmap,
                                                                          const __grid_constant__ CUtensorMap vmap,
                                                                          float* __restrict__ partial) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // launched on sm_90 devices only
  static_assert(HD % 64 == 0 && HD <= 128 && HB <= 8, "64 or 128 head dims, at most 8 heads a block");
  constexpr int kMmaKeys = stage_keys<CW>();
  constexpr int kBoxRows = kCluster ? 32 : kMmaKeys;  // keys a bulk tensor copy
  constexpr int kBoxes = HD / 64;                  // 128-byte boxes a row
  constexpr uint32_t kBox = kMmaKeys * 128;        // one box column of a stage's rows
  constexpr uint32_t kHalf = kBoxes * kBox;        // a stage's K rows (then as many V rows)
  extern __shared__ __align__(16) uint8_t smem_bytes[];
  const uint32_t raw = mma::smem_addr(smem_bytes);
  const uint32_t ring0 = (raw + 1023) & ~1023u;  // swizzled boxes start on 1024 bytes
  float* wacc = reinterpret_cast<float*>(smem_bytes + (ring0 - raw) + static_cast<size_t>(n_stages) * 2 * kHalf);
  float* wm = wacc + CW * HB * HD;
  float* wl = wm + CW * HB;
  float* bo = wl + CW * HB;  // kCluster: the block's merged O [HB][HD], then m and l [HB]
  float* bm = bo + HB * HD;
  float* bl = bm + HB;
  const uint32_t full0 = mma::smem_addr(kCluster ? bl + HB : wl + CW * HB);  // 8-byte aligned: even float counts
  const uint32_t empty0 = full0 + 8u * n_stages;
  const int split = blockIdx.x, head0 = blockIdx.y * HB;
  const int64_t row = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kv_head = head0 / (a.n_heads / a.n_kv_heads);
  const Segment seg = segment_of(a, n_splits, split_len, split, row);
  const int64_t begin = seg.begin, end = seg.end;
  const int64_t n_chunks = end > begin ? (end - begin + kMmaKeys - 1) / kMmaKeys : 0;
  if (threadIdx.x == 0) {
    for (int s = 0; s < n_stages; ++s) {
      wg::mbar_init(full0 + 8u * s, 1);
      wg::mbar_init(empty0 + 8u * s, CW);
    }
    wg::mbar_fence_init();
  }
  __syncthreads();
  wait_for_prior_kernels();

  if (warp == CW) {
    if (lane == 0) {
      const uint64_t policy = wg::l2_evict_first_policy();
      for (int64_t c = 0; c < n_chunks; ++c) {
        const int s = static_cast<int>(c % n_stages);
        if (c >= n_stages) {
          wg::mbar_wait(empty0 + 8u * s, static_cast<uint32_t>((c / n_stages - 1) & 1));
          wg::fence_proxy_async_shared();  // the consumers' loads of the stage before the copies over it
        }
        const int key = static_cast<int>(begin + c * kMmaKeys);
        // Boxes that hold keys of the segment (every consumer warp with a key reads all 16
        // rows of its tile, so boxes of 32 keys cover them).
        int boxes = 1;
        if constexpr (kCluster)
          boxes = static_cast<int>(min(int64_t{kMmaKeys / kBoxRows}, (end - key + kBoxRows - 1) / kBoxRows));
        const uint32_t dst = ring0 + 2u * kHalf * s;
        wg::mbar_arrive_expect_tx(full0 + 8u * s, 2u * kBoxes * boxes * kBoxRows * 128);
#pragma unroll
        for (int b = 0; b < kBoxes; ++b) {
          for (int i = 0; i < boxes; ++i) {
            const uint32_t at = dst + b * kBox + i * kBoxRows * 128;
            wg::tma_load_3d_hinted(at, &kmap, full0 + 8u * s, 64 * b, kv_head, key + i * kBoxRows, policy);
            wg::tma_load_3d_hinted(at + kHalf, &vmap, full0 + 8u * s, 64 * b, kv_head, key + i * kBoxRows, policy);
          }
        }
      }
    }
  } else {
    const int g = lane / 4, t = lane % 4;
    const bool head_row = g < HB;
    const float scale = 1.4426950408889634f / sqrtf(static_cast<float>(HD));
    // q of head g as A fragments (rounded to f16): k-step ks holds dims 16ks + 2t, +1 and
    // 16ks + 8 + 2t, +1; rows g + 8 are zeros.
    uint32_t qa[HD / 16][2];
    const float* qrow = a.q + (row * a.n_heads + head0 + g) * HD;
#pragma unroll
    for (int ks = 0; ks < HD / 16; ++ks) {
      const float2 x0 = head_row ? *reinterpret_cast<const float2*>(qrow + 16 * ks + 2 * t) : float2{0, 0};
      const float2 x1 = head_row ? *reinterpret_cast<const float2*>(qrow + 16 * ks + 8 + 2 * t) : float2{0, 0};
      qa[ks][0] = mma::pack_half2(x0.x, x0.y);
      qa[ks][1] = mma::pack_half2(x1.x, x1.y);
    }
    float m = -INFINITY, l = 0.0f;
    float o[HD / 8][4];
#pragma unroll
    for (int n = 0; n < HD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    // ldmatrix rows of this lane: matrix j = lane / 8, row r = lane % 8.
    const int j = lane / 8, r = lane % 8;
    const int k_key = 16 * warp + r;              // K: + 8 for the second key tile
    const int v_key = 16 * warp + (j & 1) * 8 + r;  // V: keys 0-7 then 8-15
    for (int64_t c = 0; c < n_chunks; ++c) {
      const int s = static_cast<int>(c % n_stages);
      const int64_t kb = begin + c * kMmaKeys + 16 * warp;
      wg::mbar_wait(full0 + 8u * s, static_cast<uint32_t>((c / n_stages) & 1));
      if (kb < end) {
        const uint32_t kst = ring0 + 2u * kHalf * s, vst = kst + kHalf;
        float sc[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll
        for (int tile = 0; tile < 2; ++tile) {
          const int key = k_key + 8 * tile;
#pragma unroll
          for (int k2 = 0; k2 < HD / 32; ++k2) {
            const int chunk = 4 * k2 + j;  // 16-byte chunk of the row: dims 8·chunk..
            uint32_t b[4];
            mma::ldmatrix_x4(kst + (chunk / 8) * kBox + mma::tile_offset(key, chunk % 8), b);
            const uint32_t a0[4] = {qa[2 * k2][0], 0u, qa[2 * k2][1], 0u};
            const uint32_t a1[4] = {qa[2 * k2 + 1][0], 0u, qa[2 * k2 + 1][1], 0u};
            mma::mma_16816(sc[tile], a0, b[0], b[1]);
            mma::mma_16816(sc[tile], a1, b[2], b[3]);
          }
        }
        float sv[4];
        sv[0] = kb + 2 * t < end ? sc[0][0] * scale : -INFINITY;
        sv[1] = kb + 2 * t + 1 < end ? sc[0][1] * scale : -INFINITY;
        sv[2] = kb + 8 + 2 * t < end ? sc[1][0] * scale : -INFINITY;
        sv[3] = kb + 9 + 2 * t < end ? sc[1][1] * scale : -INFINITY;
        float cm = fmaxf(fmaxf(sv[0], sv[1]), fmaxf(sv[2], sv[3]));
        cm = fmaxf(cm, __shfl_xor_sync(0xFFFFFFFFu, cm, 1));
        cm = fmaxf(cm, __shfl_xor_sync(0xFFFFFFFFu, cm, 2));  // finite: key kb is in range
        if (cm > m) {
          const float corr = exp2f(m - cm);
          l *= corr;
#pragma unroll
          for (int n = 0; n < HD / 8; ++n) {
            o[n][0] *= corr;
            o[n][1] *= corr;
          }
          m = cm;
        }
        float p[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          p[i] = exp2f(sv[i] - m);  // 0 for keys past the end
          l += p[i];
        }
        uint32_t hi0, lo0, hi1, lo1;
        mma::split_half2(p[0], p[1], hi0, lo0);
        mma::split_half2(p[2], p[3], hi1, lo1);
        const uint32_t ph[4] = {hi0, 0u, hi1, 0u}, pl[4] = {lo0, 0u, lo1, 0u};
#pragma unroll
        for (int n2 = 0; n2 < HD / 16; ++n2) {
          const int chunk = 2 * n2 + (j >> 1);
          uint32_t b[4];
          mma::ldmatrix_x4_trans(vst + (chunk / 8) * kBox + mma::tile_offset(v_key, chunk % 8), b);
          mma::mma_16816(o[2 * n2], ph, b[0], b[1]);
          mma::mma_16816(o[2 * n2], pl, b[0], b[1]);
          mma::mma_16816(o[2 * n2 + 1], ph, b[2], b[3]);
          mma::mma_16816(o[2 * n2 + 1], pl, b[2], b[3]);
        }
      }
      __syncwarp();
      if (lane == 0) wg::mbar_arrive(empty0 + 8u * s);
    }
    l += __shfl_xor_sync(0xFFFFFFFFu, l, 1);
    l += __shfl_xor_sync(0xFFFFFFFFu, l, 2);
    if (head_row) {
      if (t == 0) {
        wm[warp * HB + g] = m;
        wl[warp * HB + g] = l;
      }
#pragma unroll
      for (int n = 0; n < HD / 8; ++n) {
        wacc[(warp * HB + g) * HD + 8 * n + 2 * t] = o[n][0];
        wacc[(warp * HB + g) * HD + 8 * n + 2 * t + 1] = o[n][1];
      }
    }
  }
  __syncthreads();
  if constexpr (kCluster) {
    merge_warps<HB, CW>(HD, true, wacc, wm, wl, [&](int h, int d, float o, float mx, float sum) {
      bo[h * HD + d] = o;
      if (d == 0) {
        bm[h] = mx;  // −inf for a segment past this row's keys
        bl[h] = sum;
      }
    });
    merge_cluster<HD, HB>(a, row, head0, n_splits, bo, bm, bl);
  } else {
    finish_f16_block<HB, CW>(a, n_splits, partial, head0, row, split, wacc, wm, wl);
  }
#endif
}

// A cache as [n_ctx][n_kv_heads][head_dim] halves, in boxes of 64 halves (128 bytes,
// swizzled) × box_rows rows of one head: the mma kernel's copies. False where the driver
// offers no encoder or refuses the map.
bool cache_map(const AttentionArgs& a, const void* cache, int box_rows, CUtensorMap& map) {
  const auto encode = tensor_map_encoder();
  if (!encode) return false;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(a.head_dim), static_cast<cuuint64_t>(a.n_kv_heads),
                              static_cast<cuuint64_t>(a.n_ctx)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(a.head_dim) * 2, static_cast<cuuint64_t>(a.kv_dim) * 2};
  const cuuint32_t box[3] = {64, 1, static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t elem[3] = {1, 1, 1};
  return encode(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3, const_cast<void*>(cache), dims, strides, box, elem,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// cache_map, made once per cache buffer, shape and box: a decode step launches over the
// same layers' caches every time, and each step's record pass launches again (a few
// hundred bytes a cache buffer are kept).
CUtensorMap known_cache_map(const AttentionArgs& a, const void* cache, int box_rows) {
  using Key = std::tuple<const void*, int64_t, int64_t, int, int, int>;
  static std::mutex mu;
  static std::map<Key, CUtensorMap> maps;
  const Key key{cache, a.n_ctx, a.kv_dim, a.head_dim, a.n_kv_heads, box_rows};
  std::lock_guard<std::mutex> lock(mu);
  auto it = maps.find(key);
  if (it == maps.end()) {
    CUtensorMap map;
    if (!cache_map(a, cache, box_rows, map)) throw std::runtime_error("attention: cuTensorMapEncodeTiled refused the cache");
    it = maps.emplace(key, map).first;
  }
  return it->second;
}

// The two launches of the kernel: split launches whose segments a combine pass merges
// (four consumer warps, two ring stages of 32 KB on the 8B shape: room for three blocks a
// multiprocessor; three stages, two blocks, were slower in decode: H100, tg128 @ d8192
// 353.2 / 356.3 against 360.7 / 357.1, d512 414.6 / 411.7 against 416.1 / 412.6), and
// cluster launches (eight consumer warps, three stages of 64 KB: one block a
// multiprocessor; four warps with two or three stages of 32 KB, or eight with two, were
// the same or slower in decode on an H200).
struct Plain {
  static constexpr int kConsumers = kWarps, kStages = 2, kBoxRows = stage_keys<kWarps>();
  static constexpr bool kCluster = false;
};
struct Clustered {
  static constexpr int kConsumers = 8, kStages = 3, kBoxRows = 32;
  static constexpr bool kCluster = true;
};

// Shared memory of an instance: the ring, the warps' results (and the cluster's block
// results), the barriers, and 1024 bytes of slack to align the ring.
template <int HD, int HB, class L>
size_t mma_kernel_smem() {
  const size_t stage = 2 * static_cast<size_t>(HD / 64) * stage_keys<L::kConsumers>() * 128;
  size_t floats = static_cast<size_t>(L::kConsumers) * HB * (HD + 2);
  if (L::kCluster) floats += static_cast<size_t>(HB) * (HD + 2);
  return 1024 + L::kStages * stage + floats * sizeof(float) + 2 * L::kStages * sizeof(uint64_t);
}

// The kernel instance for HD, HB and the launch kind, with its shared memory allowed (and,
// for clusters, sizes past 8 blocks) once per instance.
template <int HD, int HB, class L>
auto mma_kernel() {
  constexpr auto kernel = attention_f16_mma_kernel<HD, HB, L::kConsumers, L::kCluster>;
  static const size_t smem = [] {
    const size_t bytes = mma_kernel_smem<HD, HB, L>();
    size_t allowed = 48 * 1024;
    raise_smem(kernel, bytes, allowed);
    if (L::kCluster)
      check(cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1),
            "cudaFuncSetAttribute (cluster size)");
    return bytes;
  }();
  return std::make_pair(kernel, smem);
}

// The kernel instance for a's head size, hb heads a block and launch kind L, given to
// fn(kernel, smem).
template <class L, class Fn>
void with_mma_kernel(const AttentionArgs& a, int hb, Fn fn) {
  auto heads = [&](auto hd) {
    constexpr int HD = decltype(hd)::value;
    const auto [kernel, smem] =
        hb == 4 ? mma_kernel<HD, 4, L>() : hb == 2 ? mma_kernel<HD, 2, L>() : mma_kernel<HD, 1, L>();
    fn(kernel, smem);
  };
  if (a.head_dim == 64)
    heads(std::integral_constant<int, 64>{});
  else
    heads(std::integral_constant<int, 128>{});
}

template <class L>
constexpr int threads_of() {
  return 32 * (L::kConsumers + 1);
}

template <class L>
void launch(const AttentionArgs& a, int hb, int n_splits, int64_t split_len, float* partial) {
  const CUtensorMap kmap = known_cache_map(a, a.k_cache, L::kBoxRows), vmap = known_cache_map(a, a.v_cache, L::kBoxRows);
  with_mma_kernel<L>(a, hb, [&](auto kernel, size_t smem) {
    const dim3 grid(static_cast<unsigned>(n_splits), static_cast<unsigned>(a.n_heads / hb), static_cast<unsigned>(a.rows));
    launch_chained_cluster(L::kCluster ? static_cast<unsigned>(n_splits) : 1u, kernel, grid, dim3(threads_of<L>()), smem,
                           a, n_splits, split_len, L::kStages, kmap, vmap, partial);
  });
}

}  // namespace

bool attention_mma_applies(const AttentionArgs& a, int hb) {
  return a.f16_operands && a.kv_f16 && (a.head_dim == 64 || a.head_dim == 128) && (hb == 1 || hb == 2 || hb == 4) &&
         a.kv_shift == 0 && a.n_ctx > 0 && device_limits().cc_major >= 9 && tensor_map_encoder() != nullptr;
}

int attention_mma_resident_blocks(const AttentionArgs& a, int hb) {
  int blocks = 1;
  with_mma_kernel<Plain>(a, hb, [&](auto kernel, size_t smem) { blocks = resident_blocks(kernel, threads_of<Plain>(), smem); });
  return blocks;
}

void launch_attention_mma(const AttentionArgs& a, int hb, int n_splits, int64_t split_len, float* partial) {
  launch<Plain>(a, hb, n_splits, split_len, partial);
}

int attention_cluster_segments(const AttentionArgs& a, int hb) {
  if (!attention_mma_applies(a, hb)) return 0;
  const int clusters = static_cast<int>(a.rows) * (a.n_heads / hb);
  static std::mutex mu;
  static std::map<std::tuple<int, int, int>, int> known;  // (head_dim, hb, clusters) -> segments
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(a.head_dim, hb, clusters);
  if (auto it = known.find(key); it != known.end()) return it->second;
  int best = 0;
  with_mma_kernel<Clustered>(a, hb, [&](auto kernel, size_t smem) {
    for (int n = kMaxClusterSegments; n >= 2 && best == 0; --n) {
      cudaLaunchConfig_t cfg = {};
      cfg.gridDim = dim3(static_cast<unsigned>(n), static_cast<unsigned>(clusters), 1);
      cfg.blockDim = dim3(threads_of<Clustered>());
      cfg.dynamicSmemBytes = smem;
      cudaLaunchAttribute attr;
      attr.id = cudaLaunchAttributeClusterDimension;
      attr.val.clusterDim = {static_cast<unsigned>(n), 1, 1};
      cfg.attrs = &attr;
      cfg.numAttrs = 1;
      int resident = 0;
      if (cudaOccupancyMaxActiveClusters(&resident, kernel, &cfg) != cudaSuccess) {
        (void)cudaGetLastError();  // a size the device does not take: try the next
        continue;
      }
      if (resident >= clusters) best = n;
    }
  });
  return known[key] = best;
}

void launch_attention_cluster(const AttentionArgs& a, int hb, int n_splits) {
  if (n_splits < 2 || n_splits > kMaxClusterSegments) throw std::invalid_argument("attention: 2 to 16 cluster segments");
  launch<Clustered>(a, hb, n_splits, 0, nullptr);
}

}  // namespace greta::cuda
