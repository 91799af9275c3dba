// The matrix-vector route of the fast precision: y = W16 · x16 with the f16 weights of
// cuda_dequant_f16.cuh built in registers, the activations rounded to f16, and the
// products summed in f32 on the tensor cores (mma.sync m16n8k16), so decode multiplies
// exactly the operands the prefill GEMM multiplies.
//
// Why tensor cores for a product with one token: the exact-weight GEMV spends ~4.5
// instructions per weight (code to float, the dequantizing FMA, the dot FMA) and its
// issue time adds to its memory time. Here two f16 instructions build a pair of weights
// and one mma consumes 256 of them, so the weight stream, not the issue, sets the pace.
//
// A warp computes 16 rows: lane (g, q) = (lane / 4, lane % 4) holds the A fragments of
// rows g and g+8 and the B fragment of column g. K is cut into steps (per format); the
// warps of a block share the block's 16 rows and take steps warp, warp + W, ... so that
// small matrices still spread over the GPU; the block sums its warps' partial results in
// a fixed order. Inside a step the mapping of k onto the mma's k slots is the format's
// choice (whatever its bytes give cheaply), with the activations permuted to match: B
// column n holds token n of up to 8 tokens (one token: every column the same, column 0
// kept). For one token the block stages x16 in shared memory in that permuted order.
// One token with rows of whole 2048-weight chunks (every matrix of the 8B shapes) takes a
// streamed variant: a producer warp copies the weights into a shared-memory ring far
// ahead of the arithmetic. Otherwise matrices with several tiles for every resident block
// take a persistent variant: blocks loop over tiles and keep the next tile's weight loads
// in flight while one tile computes and reduces. Both keep the sums row for row.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "backend/cuda/cuda_gemv_f16_parts.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

template <class F, int W, bool kStaged>
__global__ void __launch_bounds__(32 * W)
    gemv_f16_kernel(const GemvGroup grp, int64_t n_steps, const float* x, int64_t ldx, int64_t n_tokens) {
  extern __shared__ uint2 xs[];  // staged: n_steps * kMmas * 4 entries
  __shared__ float partial[W][16][8];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const int mat = grp.matrix_of(static_cast<int>(blockIdx.x));
  const uint8_t* const w = grp.w[mat];
  const int64_t row_bytes = grp.row_bytes[mat], n_rows = grp.n_rows[mat], ldy = grp.ldy[mat];
  float* const y = grp.y[mat];
  const int64_t r0 = static_cast<int64_t>(blockIdx.x - grp.first_tile[mat]) * 16;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * 8;
  const uint8_t* row_a = w + min(r0 + g, n_rows - 1) * row_bytes;  // past the end: a repeat, not written
  const uint8_t* row_b = w + min(r0 + g + 8, n_rows - 1) * row_bytes;
  typename F::Raw cur_a, cur_b;
  if (warp < n_steps) {  // weights are never written by a kernel: requested before the wait
    cur_a = F::load(row_a, warp, q);
    cur_b = F::load(row_b, warp, q);
  }
  wait_for_prior_kernels();
  float acc[kAccs][4];
  zero(acc);
  auto run = [&](const auto& xsrc) {
    for (int64_t s = warp; s < n_steps; s += W) {
      typename F::Raw next_a, next_b;
      const bool more = s + W < n_steps;
      if (more) {
        next_a = F::load(row_a, s + W, q);
        next_b = F::load(row_b, s + W, q);
      }
      F::step(cur_a, cur_b, xsrc, s, q, acc);
      if (more) {
        cur_a = next_a;
        cur_b = next_b;
      }
    }
  };
  if constexpr (kStaged) {
    stage_x<F>(xs, x, n_steps);
    run(StagedX<F>{xs});
  } else {
    run(DirectX<F>{x + min(t0 + g, n_tokens - 1) * ldx});
  }
  // acc: rows g and g+8, columns (tokens) 2q and 2q+1.
  partial[warp][g][2 * q] = combine(acc, 0);
  partial[warp][g][2 * q + 1] = combine(acc, 1);
  partial[warp][g + 8][2 * q] = combine(acc, 2);
  partial[warp][g + 8][2 * q + 1] = combine(acc, 3);
  __syncthreads();
  if (threadIdx.x < 128) {
    const int r = threadIdx.x / 8, t = threadIdx.x % 8;
    float v = partial[0][r][t];
#pragma unroll
    for (int i = 1; i < W; ++i) v += partial[i][r][t];
    if (r0 + r < n_rows && t0 + t < n_tokens) y[(t0 + t) * ldy + r0 + r] = v;
  }
}

// The end of one tile in the persistent kernel: `part` is one half of a double buffer
// (the other may still be read for the previous tile), `sync` joins the computing warps,
// and warp j % W adds the parts and stores the rows.
template <int W, class Sync>
__device__ __forceinline__ void store_tile(float (&part)[W][16], const float (&acc)[kAccs][4], const GemvGroup& grp,
                                           int tile, int j, Sync sync) {
  put_rows<W>(part, acc);
  sync();
  if (threadIdx.x / 32 == j % W) add_parts_and_store<W>(part, grp, tile);
}

// One token, persistent: block b takes the tiles b, b + gridDim.x, ... of the group and
// stages x16 once. Each warp walks one stream of (tile, step) loads with the steps of each
// tile in the order of gemv_f16_kernel (warp, warp + W, ...), kAhead loads ahead of its
// mmas and across the tile boundaries, so the loads of the next tile are in flight while
// the current one computes and reduces. A ring of kAhead + 1 register buffers holds them;
// its position at a tile's start is a runtime phase, each phase its own unrolled loop.
// Rows and their sums are those of gemv_f16_kernel: the same steps per warp, the same
// accumulation order, the block's warps summed in the same order.
template <class F, int W, int kAhead>
__global__ void __launch_bounds__(32 * W, 2)
    gemv_f16_stream_kernel(const GemvGroup grp, int64_t n_steps, const float* x) {
  constexpr int R = kAhead + 1;
  extern __shared__ uint2 xs[];  // n_steps * kMmas * 4 entries
  __shared__ float partial[2][W][16];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const int n_tiles = grp.first_tile[grp.n], stride = static_cast<int>(gridDim.x);
  // The load stream of this warp: tile lt, step ls, rows g and g + 8 of the tile.
  int lt = static_cast<int>(blockIdx.x);
  int64_t ls = warp;
  const uint8_t *la = nullptr, *lb = nullptr;
  auto rows = [&](int tile) {
    const int mat = grp.matrix_of(tile);
    const int64_t r0 = static_cast<int64_t>(tile - grp.first_tile[mat]) * 16, last = grp.n_rows[mat] - 1;
    la = grp.w[mat] + min(r0 + g, last) * grp.row_bytes[mat];  // past the end: a repeat, not written
    lb = grp.w[mat] + min(r0 + g + 8, last) * grp.row_bytes[mat];
  };
  if (lt < n_tiles) rows(lt);
  auto issue = [&](typename F::Raw& ra, typename F::Raw& rb) {
    if (lt < n_tiles && ls < n_steps) {
      ra = F::load(la, ls, q);
      rb = F::load(lb, ls, q);
      ls += W;
      if (ls >= n_steps) {
        ls = warp;
        lt += stride;
        if (lt < n_tiles) rows(lt);
      }
    }
  };
  typename F::Raw ba[R], bb[R];
#pragma unroll
  for (int i = 0; i < kAhead; ++i) issue(ba[i], bb[i]);  // weights: requested before the wait
  wait_for_prior_kernels();
  stage_x<F>(xs, x, n_steps);
  const StagedX<F> xsrc{xs};
  float acc[kAccs][4];
  // The steps of one tile from ring position P (buffer P holds its first step's weights);
  // `phase` becomes the position the next tile starts at.
  int phase = 0;
  auto item = [&](auto pos, int64_t& s) -> bool {
    constexpr int b = decltype(pos)::value;
    if (s >= n_steps) {
      phase = b;
      return false;
    }
    issue(ba[(b + kAhead) % R], bb[(b + kAhead) % R]);
    F::step(ba[b], bb[b], xsrc, s, q, acc);
    s += W;
    return true;
  };
  auto steps = [&](auto start) {
    constexpr int P = decltype(start)::value;
    int64_t s = warp;
    if constexpr (R == 2) {
      while (item(std::integral_constant<int, P>{}, s) && item(std::integral_constant<int, (P + 1) % R>{}, s)) {
      }
    } else {
      static_assert(R == 3, "one or two steps ahead");
      while (item(std::integral_constant<int, P>{}, s) && item(std::integral_constant<int, (P + 1) % R>{}, s) &&
             item(std::integral_constant<int, (P + 2) % R>{}, s)) {
      }
    }
  };
  int j = 0;
  for (int tile = static_cast<int>(blockIdx.x); tile < n_tiles; tile += stride, ++j) {
    zero(acc);
    if (phase == 0) {
      steps(std::integral_constant<int, 0>{});
    } else if (R == 2 || phase == 1) {
      steps(std::integral_constant<int, 1>{});
    } else {
      steps(std::integral_constant<int, 2 % R>{});
    }
    store_tile<W>(partial[j & 1], acc, grp, tile, j, [] { __syncthreads(); });
  }
}

// Bytes of each row of the next product's first tile that a streamed launch prefetches
// into L2 (46 KB a multiprocessor, about what memory would otherwise leave unread while
// this launch's blocks finish and the next one's start copying). H100, 8B q4_k_m, tg128
// against no prefetch in the same calls: 1152 bytes +1.8%, 1728 +1.2%, 2304 +1.2-1.9%,
// 2880 +1.7-2.4%, 3456 +1.3%, 8192 -1%; the whole next matrix after an attention -0.7%.
// When matters: issued before the last tile's copies -6% (it delays them), once the last
// copy has landed -0.6%, against once it is issued.
constexpr int kPrefetchRowBytes = 2880;

// One token, weights streamed through shared memory: warp W of the block is a producer
// that copies (bulk copies, one a row; one tensor copy a stage for formats with kRingMaps,
// maps: the launch's ring_maps) chunks of kChunkSteps steps of the block's tiles
// b, b + gridDim.x, ... into a ring of stages, running ahead of the arithmetic by up to
// the whole ring (tens of kilobytes a multiprocessor in flight without holding a
// register); warps 0..W-1 compute each chunk from shared memory (copy_tile, compute_tile),
// so rows and their sums are those of gemv_f16_kernel bit for bit. F2 other than F: the
// matrices from n_first on are of format F2 (a Q6_K v beside a Q4_K q and k): x is staged
// in both formats' orders, a stage holds the larger chunk, and each tile is copied and
// computed by its own format's code, so its rows keep their bits. kSwiGLU: the group is a
// gate and up pair (tile_slot_row) and the tile ends also store silu(gate) · up. kHeld: rows
// of kHeld chunks (one format), whose activations each warp keeps in registers for all its
// tiles (HeldX; H100, 8B q4_k_m: tg128 +1%, the same bits). next: the product launched
// after this one (none: n = 0; next_pair: a gate and up pair), whose first tile of this
// block's index the producer prefetches into L2 once its own copies are issued.
template <class F, class F2, int W, int kFillBatch, bool kSwiGLU, int kHeld = 0, bool kLinked = false>
__global__ void __launch_bounds__(32 * (W + 1), 1)
    gemv_f16_ring_kernel(const GemvGroup grp, int n_first, int64_t k, const float* x, int n_stages,
                         const GemvGroup next, int next_pair, const NormLink link,
                         const CUtensorMap* maps) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // launched on sm_90 devices only (launch_ring)
  constexpr bool kMixed = !std::is_same_v<F, F2>;
  constexpr uint32_t kStageBytes =
      ring_stage_bytes<F>() > ring_stage_bytes<F2>() ? ring_stage_bytes<F>() : ring_stage_bytes<F2>();
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ float partial[kRingParts][W][16];
  __shared__ uint64_t part_bars[2 * kRingParts];  // full[kRingParts] (W arrivals), then empty (1)
  const int warp = threadIdx.x / 32;
  const int64_t n_steps = k / F::kStep, n_steps2 = k / F2::kStep;
  const int n_tiles = grp.first_tile[grp.n], n_chunks = static_cast<int>(n_steps / F::kChunkSteps),
            n_chunks2 = static_cast<int>(n_steps2 / F2::kChunkSteps);
  const auto first_format = [&](int tile) { return !kMixed || tile < grp.first_tile[n_first]; };
  uint64_t* bars = reinterpret_cast<uint64_t*>(smem);  // full[n_stages], then empty[n_stages]
  uint2* xs = reinterpret_cast<uint2*>(smem + ring_bars_bytes(n_stages));
  uint2* xs2 = xs + ring_x_bytes<F>(n_steps) / sizeof(uint2);
  uint8_t* ring = smem + ring_bars_bytes(n_stages) + ring_x_bytes<F>(n_steps) + (kMixed ? ring_x_bytes<F2>(n_steps2) : 0);
  const uint32_t full0 = static_cast<uint32_t>(__cvta_generic_to_shared(bars));
  const uint32_t empty0 = full0 + 8u * n_stages;
  allow_dependents_early();  // one block a multiprocessor: the whole grid is resident
  if ((F::kRingMaps || F2::kRingMaps) && maps && threadIdx.x == 32 * W)
    for (int i = 0; i < grp.n; ++i) wg::tma_prefetch_desc(maps + i);
  if (threadIdx.x == 0) init_ring_barriers<W>(full0, empty0, n_stages, part_bars);
  __syncthreads();

  if (warp == W) {  // producer: weights are never written by a kernel, so no wait
    int st = 0, round = 0;
    // A tile of format G: tensor copies by lane 0 where G takes them (the other lanes only
    // keep count of the stages), else copy_tile's row copies.
    const auto copy = [&](auto g, auto swiglu, int tile, int chunks) {
      using G = decltype(g);
      constexpr bool kPair = decltype(swiglu)::value;
      if constexpr (G::kRingMaps) {
        if (maps) {
          if (threadIdx.x % 32 == 0) {
            copy_tile_mapped<G, kPair>(grp, tile, chunks, static_cast<uint32_t>(__cvta_generic_to_shared(ring)),
                                       kStageBytes, n_stages, full0, empty0, st, round, maps);
          } else {
            round += (st + chunks) / n_stages;
            st = (st + chunks) % n_stages;
          }
          return;
        }
      }
      copy_tile<G, kPair>(grp, tile, chunks, ring, kStageBytes, n_stages, full0, empty0, st, round);
    };
    for (int tile = static_cast<int>(blockIdx.x); tile < n_tiles; tile += gridDim.x) {
      if (first_format(tile)) copy(F{}, std::bool_constant<kSwiGLU>{}, tile, n_chunks);
      else copy(F2{}, std::false_type{}, tile, n_chunks2);
    }
    if constexpr (F::kRingMaps || F2::kRingMaps) __syncwarp();  // the prefetch once lane 0's copies are issued
    if constexpr (F::kPrefetchNext) prefetch_first_tile(next, next_pair != 0, kPrefetchRowBytes);
    return;
  }

  const int tid = static_cast<int>(threadIdx.x), lane = tid % 32;
  bool staged = false;
  if constexpr (kLinked && kFillBatch == 1) {
    if (link.sums_in) {  // x is a + b: stage rms(x) · gain (NormLink)
      NormedFill<F> nf(n_steps, tid, 32 * W);
      NormedFill<F2> nf2(n_steps2, tid, 32 * W);
      nf.load_gain(link.gain);
      if constexpr (kMixed) nf2.load_gain(link.gain);
      wait_for_prior_kernels();
      nf.load_x(x);
      if constexpr (kMixed) nf2.load_x(x);
      const float scale = scale_from_tile_sums(link.sums_in, link.n_sums, k, link.eps);
      nf.store(xs, scale, blockIdx.x == 0 ? link.out : nullptr);
      if constexpr (kMixed) nf2.store(xs2, scale, nullptr);
      staged = true;
    }
  }
  if (!staged) {
    wait_for_prior_kernels();
    fill_x<F, kFillBatch>(xs, x, n_steps, tid, 32 * W);
    if constexpr (kMixed) fill_x<F2, kFillBatch>(xs2, x, n_steps2, tid, 32 * W);
  }
  sync_threads_of(32 * W);
  int st = 0;
  uint32_t phase = 0;
  const uint32_t part0 = static_cast<uint32_t>(__cvta_generic_to_shared(part_bars));
  // The block's tiles, each computed into acc by compute(tile, acc), then its end.
  const auto for_each_tile = [&](auto compute) {
    for (int tile = static_cast<int>(blockIdx.x), j = 0; tile < n_tiles; tile += gridDim.x, ++j) {
      float acc[kAccs][4];
      zero(acc);
      if constexpr (kLinked && !kSwiGLU && !kMixed) {
        // NormLink's producing side (one matrix): the residual requested before the tile.
        const int64_t r = static_cast<int64_t>(tile) * 16 + lane;
        const bool mine = link.residual && warp == j % W && lane < 16 && r < grp.n_rows[0];
        const float res = mine ? load_prior(link.residual + r) : 0.0f;
        compute(tile, acc);
        if (link.residual)
          store_tile_async<W>(partial, part0, acc, grp, tile, j, ResidualRows{res, link.sum_out, link.sums_out});
        else
          store_tile_async<W>(partial, part0, acc, grp, tile, j);
      } else {
        compute(tile, acc);
        store_tile_async<W, kSwiGLU>(partial, part0, acc, grp, tile, j);
      }
    }
  };
  if constexpr (kHeld > 0) {
    static_assert(!kMixed, "activations held in registers for launches of one format");
    const HeldX<F, W, kHeld> xr(xs);
    for_each_tile([&](int, float (&acc)[kAccs][4]) {
      compute_tile_held<F, W, kHeld>(xr, ring, kStageBytes, n_stages, full0, empty0, st, phase, acc);
    });
  } else {
    for_each_tile([&](int tile, float (&acc)[kAccs][4]) {
      if (first_format(tile))
        compute_tile<F, W>(StagedX<F>{xs}, n_chunks, ring, kStageBytes, n_stages, full0, empty0, st, phase, acc);
      else
        compute_tile<F2, W>(StagedX<F2>{xs2}, n_chunks2, ring, kStageBytes, n_stages, full0, empty0, st, phase, acc);
    });
  }
#endif
}

// Eight warps a block share a tile's K: every matrix of the 8B shapes then spreads over
// the GPU, and the split (hence each row's summation order) depends only on K.
constexpr int kWarps = 8;

// The persistent kernel where every block gets at least kStreamTiles tiles: with fewer it
// lost to one tile a block on the 8B shapes (4096 x 4096 Q4_K 6.5 -> 7.3 us), with more
// it gains (14336 x 4096 Q4_K 19.9 -> 17.5 us). Its loads ahead are the format's
// (F::kStreamAhead; none: Q6_K keeps one tile a block).
constexpr int kStreamTiles = 3;

template <class F, int kAhead>
bool launch_stream(const GemvGroup& grp, int64_t n_steps, const float* x, size_t smem, int min_per_block) {
  auto kernel = gemv_f16_stream_kernel<F, kWarps, kAhead>;
  static size_t allowed = 48 * 1024;  // per instantiation: raised once for long rows
  raise_smem(kernel, smem, allowed);
  const int n_tiles = grp.first_tile[grp.n];
  const int resident = resident_blocks(kernel, 32 * kWarps, smem);
  const int per_block = (n_tiles + resident - 1) / resident;  // the same count for every block
  if (per_block < min_per_block) return false;
  const unsigned blocks = static_cast<unsigned>((n_tiles + per_block - 1) / per_block);
  launch_chained(kernel, dim3(blocks), dim3(32 * kWarps), smem, grp, n_steps, x);
  return true;
}

// The streamed kernel, where a row is a whole number of chunks: one block a
// multiprocessor (the ring takes most of its shared memory), six stages. Fewer lose depth
// (8B shapes, H100, tg128: 3 stages 245, 4 260; at fb144b7 4 stages 350, 5 357), so with
// fewer than six the earlier kernels are kept; more put more copies in flight than the step
// gains from (at fb144b7: 6 stages 427, 7 ~420, 8 ~419, up to 11 415, up to 16 414; d8192
// 6 stages 349-350 against 335-337 with 8): the input's staging after the wait and the
// small kernels queue behind them.
constexpr int kRingStages = 6, kRingMinStages = 6;
// The group of the product after a launch, as its kernel prefetches it (none: n = 0).
GemvGroup group_of(const NextProduct* next) {
  if (!next || next->n < 1 || next->n > GemvGroup::kMax || (next->pair && next->n != 2)) return GemvGroup{};
  return next->pair ? make_pair_group(next->t[0], next->t[1]) : make_gemv_group(next->t, next->n);
}
template <class F, class F2, bool kSwiGLU, auto kKernel>
bool launch_ring_kernel(const GemvGroup& grp, int n_first, int64_t k, const float* x, int64_t n_steps,
                        int64_t n_steps2, const NextProduct* next, const NormLink& link) {
  const DeviceLimits& dev = device_limits();
  constexpr bool kMixed = !std::is_same_v<F, F2>;
  static const int64_t static_smem = [&] {  // the tile-end parts and their barriers, as compiled
    cudaFuncAttributes attr{};
    check(cudaFuncGetAttributes(&attr, kKernel), "cudaFuncGetAttributes (gemv f16)");
    return static_cast<int64_t>(attr.sharedSizeBytes);
  }();
  const int64_t x_bytes = ring_x_bytes<F>(n_steps) + (kMixed ? ring_x_bytes<F2>(n_steps2) : 0);
  const int64_t stage_bytes = std::max(ring_stage_bytes<F>(), ring_stage_bytes<F2>());
  const int64_t fixed = ring_bars_bytes(kRingStages) + x_bytes + static_smem;
  const int stages = static_cast<int>(std::min<int64_t>(kRingStages, (dev.smem_optin - fixed) / stage_bytes));
  if (stages < kRingMinStages) return false;
  const size_t smem = static_cast<size_t>(ring_bars_bytes(stages) + x_bytes + stages * stage_bytes);
  static size_t allowed = 48 * 1024;  // per instantiation
  raise_smem(kKernel, smem, allowed);
  const int n_tiles = grp.first_tile[grp.n];
  launch_chained(kKernel, dim3(static_cast<unsigned>(std::min(n_tiles, dev.sms))), dim3(32 * (kWarps + 1)), smem, grp,
                 n_first, k, x, stages, group_of(next), next && next->pair ? 1 : 0, link,
                 ring_maps<F, F2, kSwiGLU>(grp, n_first));
  return true;
}

// A NormLink's launches take their own instances (kLinked), so that the plain ones keep
// their code as it was: the link's branches in the tile loop cost the plain launches ~2%.
bool linked(const NormLink& link) { return link.sums_in || link.residual; }

template <class F, class F2, bool kSwiGLU, int kHeld>
bool launch_ring_held(const GemvGroup& grp, int n_first, int64_t k, const float* x, int64_t n_steps, int64_t n_steps2,
                      const NextProduct* next, const NormLink& link) {
  if (linked(link))
    return launch_ring_kernel<F, F2, kSwiGLU, gemv_f16_ring_kernel<F, F2, kWarps, 1, kSwiGLU, kHeld, true>>(
        grp, n_first, k, x, n_steps, n_steps2, next, link);
  return launch_ring_kernel<F, F2, kSwiGLU, gemv_f16_ring_kernel<F, F2, kWarps, 1, kSwiGLU, kHeld>>(
      grp, n_first, k, x, n_steps, n_steps2, next, link);
}

template <class F, class F2, int kFillBatch, bool kSwiGLU = false>
bool launch_ring_with(const GemvGroup& grp, int n_first, int64_t k, const float* x, const NextProduct* next,
                      const NormLink& link = {}) {
  const DeviceLimits& dev = device_limits();
  constexpr bool kMixed = !std::is_same_v<F, F2>;
  const int64_t n_steps = k / F::kStep, n_steps2 = k / F2::kStep;
  if (n_steps % F::kChunkSteps != 0 || n_steps2 % F2::kChunkSteps != 0 || dev.cc_major < 9)
    return false;  // bulk copies and mbarrier waits: sm_90
  // Rows of at most held_chunks<F>() chunks: the activations of each warp's steps in
  // registers (HeldX), one instance a chunk count.
  if constexpr (kFillBatch == 1 && !kMixed) {
    const int64_t n_chunks = n_steps / F::kChunkSteps;
    if (n_chunks == 1) return launch_ring_held<F, F2, kSwiGLU, 1>(grp, n_first, k, x, n_steps, n_steps2, next, link);
    if constexpr (held_chunks<F>() >= 2) {
      if (n_chunks == 2) return launch_ring_held<F, F2, kSwiGLU, 2>(grp, n_first, k, x, n_steps, n_steps2, next, link);
    }
    if constexpr (held_chunks<F>() >= 4) {
      if (n_chunks == 4) return launch_ring_held<F, F2, kSwiGLU, 4>(grp, n_first, k, x, n_steps, n_steps2, next, link);
    }
  }
  if (linked(link))
    return launch_ring_kernel<F, F2, kSwiGLU, gemv_f16_ring_kernel<F, F2, kWarps, kFillBatch, kSwiGLU, 0, true>>(
        grp, n_first, k, x, n_steps, n_steps2, next, link);
  return launch_ring_kernel<F, F2, kSwiGLU, gemv_f16_ring_kernel<F, F2, kWarps, kFillBatch, kSwiGLU>>(
      grp, n_first, k, x, n_steps, n_steps2, next, link);
}

// Rows of more than four staged entries a consumer thread (the down products' K = 14336)
// stage their input 16 loads at a time: one round trip to L2 after the wait instead of
// several (H100, step timeline: Q4_K down 16.8 -> 15.0 us, Q6_K 22.3 -> 21.1). Shorter
// rows keep the plain loop: in one kernel with the batched staging (more registers), gate
// + up went 24.8 -> 26.2 us.
template <class F>
bool long_staging(int64_t k) {
  return k / F::kStep * F::kMmas * 4 > 4 * 32 * kWarps;
}
template <class F>
bool launch_ring(const GemvGroup& grp, int64_t n_steps, const float* x, const NextProduct* next) {
  const int64_t k = n_steps * F::kStep;
  if (long_staging<F>(k)) return launch_ring_with<F, F, 16>(grp, grp.n, k, x, next);
  return launch_ring_with<F, F, 1>(grp, grp.n, k, x, next);
}

// The gate and up products of one token with their SwiGLU at the tile ends (a pair's
// tiles take eight rows of each; a 16-row tile of one matrix otherwise).
template <class F>
bool launch_ring_swiglu(const GemvGroup& grp, int64_t k, const float* x, const NextProduct* next,
                        const NormLink& link) {
  if (long_staging<F>(k)) return !link.sums_in && launch_ring_with<F, F, 16, true>(grp, grp.n, k, x, next);
  return launch_ring_with<F, F, 1, true>(grp, grp.n, k, x, next, link);
}

// A NormLink's sides where a launch can take them: the consuming side with the plain
// staging (rows of at most kNormLinkMaxCols), the producing side for one matrix.
bool link_fits(const NormLink& link, int64_t k, int n_matrices) {
  return (!link.sums_in || (k <= kNormLinkMaxCols && link.gain && link.n_sums > 0)) &&
         (!link.residual || (n_matrices == 1 && link.sum_out && link.sums_out));
}

template <class F>
bool launch_ring_linked(const GemvGroup& grp, int64_t k, const float* x, const NextProduct* next,
                        const NormLink& link) {
  if (long_staging<F>(k)) return !link.sums_in && launch_ring_with<F, F, 16>(grp, grp.n, k, x, next, link);
  return launch_ring_with<F, F, 1>(grp, grp.n, k, x, next, link);
}

template <class F>
void launch_format(const GemvGroup& grp, int64_t k, const float* x, int64_t ldx, int64_t n_tokens,
                   const NextProduct* next) {
  const int64_t n_steps = k / F::kStep;
  const dim3 grid(static_cast<unsigned>(grp.first_tile[grp.n]), static_cast<unsigned>((n_tokens + 7) / 8));
  if (n_tokens == 1) {
    const size_t smem = static_cast<size_t>(n_steps) * F::kMmas * 4 * sizeof(uint2);
    if (launch_ring<F>(grp, n_steps, x, next)) return;
    if constexpr (F::kStreamAhead > 0) {
      if (launch_stream<F, F::kStreamAhead>(grp, n_steps, x, smem, kStreamTiles)) return;
    }
    static size_t allowed = 48 * 1024;  // per instantiation: raised once for long rows
    raise_smem(gemv_f16_kernel<F, kWarps, true>, smem, allowed);
    launch_chained(gemv_f16_kernel<F, kWarps, true>, grid, dim3(32 * kWarps), smem, grp, n_steps, x, ldx, n_tokens);
  } else {
    launch_chained(gemv_f16_kernel<F, kWarps, false>, grid, dim3(32 * kWarps), 0, grp, n_steps, x, ldx, n_tokens);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// fn(F{}) for the format F of `type` when rows of width k are whole steps of it (the K-quants'
// rows are whole super-blocks by construction); false for any other type or width.
template <class Fn>
bool with_format(TensorType type, int64_t k, Fn&& fn) {
  const auto whole = [&](auto f) { return k % decltype(f)::kStep == 0 && fn(f); };
  switch (type) {
    case TensorType::Q4_K: return whole(Q4K{});
    case TensorType::Q5_K: return whole(Q5K{});
    case TensorType::Q6_K: return whole(Q6K{});
    case TensorType::F16: return whole(F16{});
    case TensorType::BF16: return whole(BF16{});
    case TensorType::F32: return whole(F32{});
    case TensorType::Q8_0: return whole(Q80{});
    case TensorType::Q4_0: return whole(Q40{});
    default: return false;
  }
}

}  // namespace

bool gemv_f16_supported(TensorType type, int64_t k, const float* x, int64_t ldx) {
  if (!aligned16(x) || ldx % 4 != 0) return false;
  return with_format(type, k, [](auto) { return true; });
}

bool launch_gemv_f16_two_formats(TensorType type, const GemvTarget* targets, int n, TensorType type2,
                                 const GemvTarget* targets2, int n2, int64_t k, const float* x, int64_t n_tokens,
                                 const NextProduct* next, const NormLink& link) {
  // Q4_K matrices with Q6_K ones, one token, rows short enough for the plain staging (the
  // q, k and v of the layers whose v is Q6_K; H100: the v launch alone took 3.6 us).
  if (n_tokens != 1 || n < 1 || n2 < 1 || n + n2 > GemvGroup::kMax || type != TensorType::Q4_K ||
      type2 != TensorType::Q6_K || long_staging<Q4K>(k) || long_staging<Q6K>(k) || !aligned16(x) ||
      link.residual || !link_fits(link, k, n + n2))
    return false;
  GemvTarget all[GemvGroup::kMax];
  std::copy(targets, targets + n, all);
  std::copy(targets2, targets2 + n2, all + n);
  const GemvGroup grp = make_gemv_group(all, n + n2);
  if (!launch_ring_with<Q4K, Q6K, 1>(grp, n, k, x, next, link)) return false;
  check_launch("gemv f16 (two formats)");
  return true;
}

bool launch_gemv_f16_swiglu(TensorType type, const GemvTarget& gate, const GemvTarget& up, float* act, int64_t k,
                            const float* x, const NextProduct* next, const NormLink& link) {
  // The separate SwiGLU kernel cost 1.9 us a layer on the step's chain (H100), and with it
  // gone the down product's blocks land as soon as gate + up's leave.
  if (gate.n_rows != up.n_rows || gate.row_bytes != up.row_bytes || gate.n_rows < 1 || !aligned16(x) ||
      link.residual || !link_fits(link, k, 2))
    return false;
  GemvGroup grp = make_pair_group(gate, up);
  grp.y[2] = act;
  const bool launched =
      with_format(type, k, [&](auto f) { return launch_ring_swiglu<decltype(f)>(grp, k, x, next, link); });
  if (launched) check_launch("gemv f16 (gate, up, swiglu)");
  return launched;
}

bool launch_gemv_f16_linked(TensorType type, const GemvTarget* targets, int n, int64_t k, const float* x,
                            const NextProduct* next, const NormLink& link) {
  if (n < 1 || n > GemvGroup::kMax || !aligned16(x) || !link_fits(link, k, n)) return false;
  const GemvGroup grp = make_gemv_group(targets, n);
  const bool launched =
      with_format(type, k, [&](auto f) { return launch_ring_linked<decltype(f)>(grp, k, x, next, link); });
  if (launched) check_launch("gemv f16 (norm link)");
  return launched;
}

void launch_gemv_f16_group(TensorType type, const GemvTarget* targets, int n, int64_t k, const float* x, int64_t ldx,
                           int64_t n_tokens, const NextProduct* next) {
  if (n_tokens == 0) return;
  if (n < 1 || n > GemvGroup::kMax) throw std::invalid_argument("gemv f16: 1 to 3 matrices a launch");
  const GemvGroup grp = make_gemv_group(targets, n);
  if (grp.first_tile[n] == 0) return;
  const bool launched = with_format(type, k, [&](auto f) {
    launch_format<decltype(f)>(grp, k, x, ldx, n_tokens, next);
    return true;
  });
  if (!launched) throw std::invalid_argument("gemv f16: no tensor-core kernel for this format and width");
  check_launch("gemv f16");
}

}  // namespace greta::cuda
