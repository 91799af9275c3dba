// The decode chain: several one-token products, and the row ops between them, in one
// persistent launch (declared in cuda_ops.h).
//
// Why: the streamed GEMV (cuda_gemv_f16.cu) keeps a multiprocessor's shared memory full of
// weights in flight, so the next product's copies can only start once its block has left
// the multiprocessor, and the add + rmsnorm or SwiGLU launched between two products runs
// with no weight moving at all. Here one block a multiprocessor walks every product of the
// chain: its producer warp copies the weights of product after product into one ring and
// never waits for activations, while the consumer warps finish a product, meet the other
// blocks at a barrier over the grid, compute the next product's input (the row op) and
// take the chunks already waiting in the ring.
//
// Same bits as the separate launches: the steps of a tile go to the warps as in
// gemv_f16_ring_kernel and the tile ends add the parts in warp order (store_tile_async);
// the add + rmsnorm sums its squares in the layout of the stand-alone kernel (1024 virtual
// threads over 256 real ones, cuda_row_ops.cuh); SwiGLU is element-wise.
//
// Status: off by default (CudaOptions::chain, GRETA_CUDA_CHAIN=1). Inside the launch the
// products stream at ~2.8 TB/s on an H100, faster than the separate kernels, but the
// barriers over the grid and the staging of each input after them cost more than the
// kernel boundaries they replace: tg128 of the 8B q4_k_m 308-315 against 361-367 without
// (src/backend/cuda/NOTES.md, "Decode chain").
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "backend/cuda/cuda_gemv_f16_parts.cuh"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_row_ops.cuh"

namespace greta::cuda {
namespace {

constexpr int kWarps = 8;                  // consumer warps; one producer warp more
constexpr int kConsumers = 32 * kWarps;
constexpr int kMaxSlots = 8, kMinSlots = 6;  // the streamed GEMV's depths (its notes)
constexpr int kNormRegs = kNormThreads * kNormHeld / kConsumers;  // row elements a consumer holds
// SwiGLU whose gate this launch produced: silu(gate) was stored beside the gate rows (x)
// and only the product with up (x2) is left.
constexpr int64_t kSiluTimes = 3;

// One product of the chain as the kernel reads it. 64-bit fields only: a step record holds
// the launch's argument bytes, which must be defined.
struct ChainStage {
  GemvGroup grp;
  int64_t format;       // 0: Q4_K, 1: Q6_K
  int64_t n_steps;
  int64_t k;            // the row's width
  int64_t first_block;  // tile t of this product goes to block (t + first_block) % gridDim.x
  int64_t reuse_row;    // 1: the normalized row of the product before (same input) is still staged
  int64_t barrier;      // 1: every block finishes the earlier products first
  int64_t kind;         // ChainInput::Kind, or kSiluTimes
  float* silu_out;      // where silu(gate) goes beside the gate rows (matrix silu_mat), or null
  int64_t silu_mat;
  const float* x;
  const float* x2;
  float* sum_out;
  const float* gain;
  float* out;
  int64_t cols;
  int64_t eps_bits;
};
struct ChainArgs {
  ChainStage s[kChainMaxProducts];
  int64_t n;
  unsigned* counters;
  int64_t slot_bytes, n_slots, x_bytes;
};

constexpr int64_t slot_bytes_of(int64_t format) {
  return format == 0 ? ring_stage_bytes<Q4K>() : ring_stage_bytes<Q6K>();
}
// The input region of a product: its staged f16 activations, and for AddNorm the
// normalized row in f32 before it is staged.
constexpr int64_t x_region_bytes(int64_t k, int64_t kind) {
  return (2 * k + 127) / 128 * 128 + (kind == ChainInput::AddNorm ? 4 * k : 0);
}

// Barrier 1 over the consumer warps (barrier 0 is __syncthreads, which the producer has
// left by then).
__device__ __forceinline__ void sync_consumers() { asm volatile("bar.sync 1, %0;" ::"r"(kConsumers) : "memory"); }

// Every block's consumers arrive, then wait until `target` arrivals: the stores of the
// products before are then visible to every block (release by the arriving thread after
// the block's barrier, acquire by the waiting one before it).
__device__ __forceinline__ void grid_barrier(unsigned* counter, unsigned target) {
  sync_consumers();
  if (threadIdx.x == 0) {
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counter) : "memory");
    unsigned seen = 0;
    do {
      asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(counter) : "memory");
    } while (seen < target);
    asm volatile("fence.acq_rel.gpu;" ::: "memory");
  }
  sync_consumers();
}

__device__ __forceinline__ int first_tile(const ChainStage& s) {
  const int g = static_cast<int>(gridDim.x);
  return (static_cast<int>(blockIdx.x) + g - static_cast<int>(s.first_block)) % g;
}

// The producer's share of one product: the chunks of its tiles, in the consumers' order.
// (Tiles taken from a counter instead, so that a block that streams faster takes more,
// made the launch slower: a producer claims up to the ring's depth ahead, so the blocks
// ended a product further apart, not closer.)
template <class F>
__device__ __forceinline__ void produce(const ChainStage& s, uint8_t* ring, uint32_t slot_bytes, int n_slots,
                                        uint32_t full0, uint32_t empty0, int& st, int& round) {
  const int n_tiles = s.grp.first_tile[s.grp.n], n_chunks = static_cast<int>(s.n_steps / F::kChunkSteps);
  for (int tile = first_tile(s); tile < n_tiles; tile += gridDim.x)
    copy_tile<F>(s.grp, tile, n_chunks, ring, slot_bytes, n_slots, full0, empty0, st, round);
}

// The consumers' share of one product (gemv_f16_ring_kernel's loop); the gate rows of a
// SwiGLU this launch computes also store silu(gate).
template <class F>
__device__ __forceinline__ void consume(const ChainStage& s, const uint2* xs, const uint8_t* ring, uint32_t slot_bytes,
                                        int n_slots, uint32_t full0, uint32_t empty0, int& st, uint32_t& phase, int& j,
                                        float (&partial)[kRingParts][kWarps][16], uint32_t part_bars) {
  const int n_tiles = s.grp.first_tile[s.grp.n], n_chunks = static_cast<int>(s.n_steps / F::kChunkSteps);
  const StagedX<F> xsrc{xs};
  for (int tile = first_tile(s); tile < n_tiles; tile += gridDim.x, ++j) {
    float acc[kAccs][4];
    zero(acc);
    compute_tile<F, kWarps>(xsrc, n_chunks, ring, slot_bytes, n_slots, full0, empty0, st, phase, acc);
    store_tile_async<kWarps>(partial, part_bars, acc, s.grp, tile, j, [&s](int mat, int64_t r, float v) {
      if (s.silu_out && mat == s.silu_mat) s.silu_out[r] = silu_value(v);
    });
  }
}

// The elements of a row op's outputs that this block writes (every block computes the
// whole row; each element is written once): chunks of kConsumers, chunk c by block c % grid.
template <class Fn>
__device__ __forceinline__ void for_block_share(int64_t cols, Fn fn) {
  for (int64_t c = blockIdx.x; c * kConsumers < cols; c += gridDim.x) {
    const int64_t i = c * kConsumers + threadIdx.x;
    if (i < cols) fn(i);
  }
}

// Where the four activations from k (a multiple of 4) go in the staged input: entry
// (step, m, q) of StagedX, the inverse of F::group.
template <class F>
__device__ __forceinline__ int staged_entry(int k) {
  const int s = k / F::kStep, t = (k % F::kStep) / 4;
  if constexpr (std::is_same_v<F, Q4K>) {  // t = 16 q + 8 (m & 1) + (m >> 1)
    return (s * F::kMmas + 2 * (t & 7) + ((t >> 3) & 1)) * 4 + (t >> 4);
  } else {  // Q6K: t = 8 (m >> 1) + 2 q + (m & 1)
    return (s * F::kMmas + 2 * (t >> 3) + (t & 1)) * 4 + ((t >> 1) & 3);
  }
}

// The product's input as gemv's fill_x stages it, from value(k) = the four activations
// from k: a row in global memory that earlier products of this launch may have written
// (read through L2, not the read-only path), or the normalized row in shared memory.
// Consumer c takes the fours c, c + 256, ... (coalesced loads), a batch requested before
// any is used (one wait on L2 a batch). 256 fours are 1024 activations: 4 Q4_K steps of 64
// entries or 8 Q6_K steps of 32, so the entry moves by 256 in both formats.
static_assert(kConsumers == 256 && 4 * Q4K::kMmas * 4 == 256 && 8 * Q6K::kMmas * 4 == 256, "fill_from's stride");
static_assert(Q4K::kPairStride == Q6K::kPairStride, "one pairing for both formats");
template <int kBatch, class Value>
__device__ __forceinline__ void fill_from(uint2* xs, const ChainStage& s, Value value) {
  const int rounds = static_cast<int>(s.k / (4 * kConsumers)), k0 = 4 * static_cast<int>(threadIdx.x);
  uint2* x0 = xs + (s.format == 0 ? staged_entry<Q4K>(k0) : staged_entry<Q6K>(k0));
  for (int r0 = 0; r0 < rounds; r0 += kBatch) {
    float4 v[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b)
      if (r0 + b < rounds) v[b] = value(k0 + 4 * kConsumers * (r0 + b));
#pragma unroll
    for (int b = 0; b < kBatch; ++b)
      if (r0 + b < rounds) x0[kConsumers * (r0 + b)] = b_pair<Q4K::kPairStride>(v[b]);
  }
}

// Element e of consumer tid in the add + rmsnorm: tid + kConsumers e (rows up to
// kNormRegs * kConsumers, a multiple of kConsumers). Past the row's end the index repeats
// the last chunk, so that every load is unconditional and a thread's loads leave together.
__device__ __forceinline__ int64_t norm_index(int64_t cols, int e) {
  const int chunks = static_cast<int>(cols / kConsumers);
  return threadIdx.x + int64_t{e < chunks ? e : chunks - 1} * kConsumers;
}
// The rmsnorm weight (never written by a kernel): requested before the grid's barrier.
__device__ __forceinline__ void load_gains(const ChainStage& s, float (&gv)[kNormRegs]) {
#pragma unroll
  for (int e = 0; e < kNormRegs; ++e) gv[e] = __ldg(s.gain + norm_index(s.cols, e));
}

// The stagings read inputs that other blocks of this launch wrote before the last grid
// barrier: with __ldcg (L2), since a multiprocessor's L1 is not kept coherent within a
// launch (load_prior's plain loads rely on the wait between launches).
//
// add + rmsnorm of one row: the sum of squares as rmsnorm_kernel forms it (thread t of
// its 1024 sums elements t + 1024 j; here consumer c stands for threads c + 256 m).
__device__ __forceinline__ void stage_add_norm(const ChainStage& s, const float (&gv)[kNormRegs], uint2* xs, float* row,
                                               double* sums, float* scale) {
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t cols = s.cols;
  float av[kNormRegs], bv[kNormRegs], v[kNormRegs];
#pragma unroll
  for (int e = 0; e < kNormRegs; ++e) {
    av[e] = __ldcg(s.x + norm_index(cols, e));
    bv[e] = __ldcg(s.x2 + norm_index(cols, e));
  }
#pragma unroll
  for (int e = 0; e < kNormRegs; ++e) v[e] = __fadd_rn(av[e], bv[e]);
#pragma unroll
  for (int m = 0; m < kNormThreads / kConsumers; ++m) {
    double ss = 0.0;
#pragma unroll
    for (int jj = 0; jj < kNormHeld; ++jj) {
      const int e = m + jj * (kNormThreads / kConsumers);
      if (tid + int64_t{e} * kConsumers < cols) ss += static_cast<double>(v[e]) * v[e];
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, off);
    if (lane == 0) sums[warp + kWarps * m] = ss;
  }
  sync_consumers();
  if (tid == 0) {
    double total = 0.0;
    for (int w = 0; w < kNormThreads / 32; ++w) total += sums[w];
    *scale = rms_scale(total, cols, __int_as_float(static_cast<int>(s.eps_bits)));
  }
  sync_consumers();
  const float sc = *scale;
#pragma unroll
  for (int e = 0; e < kNormRegs; ++e) {
    const int64_t i = tid + int64_t{e} * kConsumers;
    if (i >= cols) continue;
    const float o = rms_apply(v[e], sc, gv[e]);
    row[i] = o;
    if (e == static_cast<int>(blockIdx.x)) {  // chunk e (for_block_share; the grid has kNormRegs blocks or more)
      s.sum_out[i] = v[e];
      s.out[i] = o;
    }
  }
  sync_consumers();
  fill_from<4>(xs, s, [&](int k) { return *reinterpret_cast<const float4*>(row + k); });
}

// Stages the product's input (every kind; one copy of this code, called once a product,
// so that it stays out of the way of the arithmetic's instructions).
__device__ __noinline__ void stage_input(const ChainStage& s, const float (&gv)[kNormRegs], uint2* xs, float* row,
                                         double* sums, float* scale) {
  if (s.reuse_row) {
    fill_from<4>(xs, s, [&](int k) { return *reinterpret_cast<const float4*>(row + k); });
  } else if (s.kind == ChainInput::AddNorm) {
    stage_add_norm(s, gv, xs, row, sums, scale);
  } else if (s.kind == kSiluTimes) {
    for_block_share(s.cols, [&](int64_t i) { s.out[i] = __fmul_rn(__ldcg(s.x + i), __ldcg(s.x2 + i)); });
    fill_from<8>(xs, s, [&](int k) {
      const float4 g = __ldcg(reinterpret_cast<const float4*>(s.x + k)), u = __ldcg(reinterpret_cast<const float4*>(s.x2 + k));
      return make_float4(__fmul_rn(g.x, u.x), __fmul_rn(g.y, u.y), __fmul_rn(g.z, u.z), __fmul_rn(g.w, u.w));
    });
  } else if (s.kind == ChainInput::Swiglu) {  // a gate from before this launch: rare
    for_block_share(s.cols, [&](int64_t i) { s.out[i] = swiglu_value(__ldcg(s.x + i), __ldcg(s.x2 + i)); });
    fill_from<1>(xs, s, [&](int k) {
      const float4 g = __ldcg(reinterpret_cast<const float4*>(s.x + k)), u = __ldcg(reinterpret_cast<const float4*>(s.x2 + k));
      return make_float4(swiglu_value(g.x, u.x), swiglu_value(g.y, u.y), swiglu_value(g.z, u.z), swiglu_value(g.w, u.w));
    });
  } else {
    fill_from<8>(xs, s, [&](int k) { return __ldcg(reinterpret_cast<const float4*>(s.x + k)); });
  }
  sync_consumers();
}

__global__ void __launch_bounds__(32 * (kWarps + 1), 1) decode_chain_kernel(const __grid_constant__ ChainArgs p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // launched on sm_90 devices only
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ float partial[kRingParts][kWarps][16];
  __shared__ uint64_t part_bars[2 * kRingParts];
  __shared__ double sums[kNormThreads / 32];
  __shared__ float scale;
  const int n_slots = static_cast<int>(p.n_slots), n = static_cast<int>(p.n);
  const uint32_t slot_bytes = static_cast<uint32_t>(p.slot_bytes);
  uint64_t* bars = reinterpret_cast<uint64_t*>(smem);  // full[n_slots], then empty[n_slots]
  uint8_t* xregion = smem + ring_bars_bytes(n_slots);
  uint8_t* ring = xregion + p.x_bytes;
  const uint32_t full0 = static_cast<uint32_t>(__cvta_generic_to_shared(bars));
  const uint32_t empty0 = full0 + 8u * n_slots;
  if (threadIdx.x == 0) init_ring_barriers<kWarps>(full0, empty0, n_slots, part_bars);
  __syncthreads();

  if (threadIdx.x / 32 == kWarps) {  // producer: weights are never written by a kernel, so no wait
    int st = 0, round = 0;
    for (int i = 0; i < n; ++i) {
      if (p.s[i].format == 0) produce<Q4K>(p.s[i], ring, slot_bytes, n_slots, full0, empty0, st, round);
      else produce<Q6K>(p.s[i], ring, slot_bytes, n_slots, full0, empty0, st, round);
    }
    return;
  }

  wait_for_prior_kernels();
  const uint32_t part0 = static_cast<uint32_t>(__cvta_generic_to_shared(part_bars));
  uint2* xs = reinterpret_cast<uint2*>(xregion);
  int st = 0, j = 0;
  uint32_t phase = 0, barriers = 0;
  for (int i = 0; i < n; ++i) {
    const ChainStage& s = p.s[i];
    // The warps may still read the previous product's input (a tile's last chunk).
    if (i > 0) sync_consumers();
    float gv[kNormRegs];
    if (s.kind == ChainInput::AddNorm && !s.reuse_row) load_gains(s, gv);
    if (s.barrier) grid_barrier(p.counters, ++barriers * gridDim.x);
    float* row = reinterpret_cast<float*>(xregion + (2 * s.k + 127) / 128 * 128);
    stage_input(s, gv, xs, row, sums, &scale);
    if (s.format == 0) consume<Q4K>(s, xs, ring, slot_bytes, n_slots, full0, empty0, st, phase, j, partial, part0);
    else consume<Q6K>(s, xs, ring, slot_bytes, n_slots, full0, empty0, st, phase, j, partial, part0);
  }
  if (barriers == 0) return;
  // The last block out sets the counters back to zero for the next launch, whose consumers
  // read them only after this launch has ended (wait_for_prior_kernels).
  sync_consumers();
  if (threadIdx.x == 0 && atomicAdd(p.counters + 1, 1u) == gridDim.x - 1) {
    p.counters[0] = 0;
    p.counters[1] = 0;
  }
#endif
}

// The chain kernel's own shared memory (the tile ends' parts and barriers), as compiled.
int64_t static_smem() {
  static const int64_t bytes = [] {
    cudaFuncAttributes attr{};
    check(cudaFuncGetAttributes(&attr, decode_chain_kernel), "cudaFuncGetAttributes (decode chain)");
    return static_cast<int64_t>(attr.sharedSizeBytes);
  }();
  return bytes;
}

int64_t format_of(TensorType t) { return t == TensorType::Q4_K ? 0 : 1; }

// The ring's slots and the input region of a chain: slots of its widest format, as many
// as fit next to the largest input region (0 if fewer than kMinSlots).
struct Layout {
  int64_t slot_bytes = 0, n_slots = 0, x_bytes = 0, smem = 0;
};
Layout layout_of(const ChainProduct* products, int n) {
  Layout l;
  for (int i = 0; i < n; ++i) {
    l.slot_bytes = std::max(l.slot_bytes, slot_bytes_of(format_of(products[i].type)));
    l.x_bytes = std::max(l.x_bytes, x_region_bytes(products[i].k, products[i].input.kind));
  }
  const int64_t room = device_limits().smem_optin - static_smem() - ring_bars_bytes(kMaxSlots) - l.x_bytes;
  l.n_slots = std::min<int64_t>(kMaxSlots, room / l.slot_bytes);
  if (l.n_slots < kMinSlots) l.n_slots = 0;
  l.smem = ring_bars_bytes(static_cast<int>(l.n_slots)) + l.x_bytes + l.n_slots * l.slot_bytes;
  return l;
}

bool same_input(const ChainInput& a, const ChainInput& b) {
  return a.kind == b.kind && a.x == b.x && a.x2 == b.x2 && a.sum_out == b.sum_out && a.gain == b.gain && a.out == b.out &&
         a.cols == b.cols && a.eps == b.eps;
}

}  // namespace

// A record holds the launch's argument bytes: ChainArgs is plain 64-bit fields.
static_assert(std::has_unique_object_representations_v<ChainArgs>, "decode chain arguments without padding");

bool decode_chain_supported(TensorType type, int64_t k) {
  if (type != TensorType::Q4_K && type != TensorType::Q6_K) return false;
  // Whole chunks; bulk copies: sm_90; a block for each chunk of a normalized row.
  const DeviceLimits& dev = device_limits();
  if (k <= 0 || k % 2048 != 0 || dev.cc_major < 9 || dev.sms < kNormRegs) return false;
  return true;
}

bool decode_chain_input_supported(const ChainInput& in, int64_t k) {
  if (in.kind == ChainInput::Plain) return in.x != nullptr;
  if (in.cols != k || k % 4 != 0) return false;
  // Every block computes the whole row while other blocks write their share of the
  // outputs: an output that is also an input would be read half updated.
  const void* outs[] = {in.out, in.kind == ChainInput::AddNorm ? in.sum_out : nullptr};
  for (const void* o : outs)
    if (o && (o == in.x || o == in.x2)) return false;
  return in.kind == ChainInput::Swiglu || (in.cols <= int64_t{kNormRegs} * kConsumers && in.cols % kConsumers == 0);
}

bool decode_chain_fits(const ChainProduct* products, int n) {
  return n >= 1 && n <= kChainMaxProducts && layout_of(products, n).n_slots > 0;
}

void launch_decode_chain(const ChainProduct* products, int n, unsigned* counters, float* silu, int64_t silu_floats) {
  if (!decode_chain_fits(products, n)) throw std::invalid_argument("decode chain: the products do not fit one launch");
  const DeviceLimits& dev = device_limits();
  const Layout l = layout_of(products, n);
  ChainArgs a;
  std::memset(&a, 0, sizeof a);
  int64_t tiles_before = 0;
  for (int i = 0; i < n; ++i) {
    const ChainProduct& p = products[i];
    if (!decode_chain_supported(p.type, p.k) || !decode_chain_input_supported(p.input, p.k) || p.n < 1 || p.n > 3)
      throw std::invalid_argument("decode chain: a product it cannot take");
    ChainStage& s = a.s[i];
    s.grp = make_gemv_group(p.targets, p.n);
    s.format = format_of(p.type);
    s.first_block = tiles_before % dev.sms;  // spreads the blocks with one tile more over the products
    tiles_before += s.grp.first_tile[p.n];
    s.n_steps = p.k / (s.format == 0 ? Q4K::kStep : Q6K::kStep);
    s.k = p.k;
    // Products that share the previous one's input need nothing it wrote.
    s.barrier = i > 0 && !same_input(p.input, products[i - 1].input);
    // The normalized row stays in shared memory while the products that share it run.
    s.reuse_row = i > 0 && !s.barrier && p.input.kind == ChainInput::AddNorm && p.k == products[i - 1].k;
    s.kind = p.input.kind;
    s.x = p.input.x;
    s.x2 = p.input.x2;
    s.sum_out = p.input.sum_out;
    s.gain = p.input.gain;
    s.out = p.input.out;
    s.cols = p.input.cols;
    // SwiGLU of a gate that the product before computes: silu(gate) is stored with it.
    if (i > 0 && p.input.kind == ChainInput::Swiglu && silu && p.input.cols <= silu_floats) {
      ChainStage& prev = a.s[i - 1];
      for (int m = 0; m < prev.grp.n; ++m) {
        if (prev.grp.y[m] != p.input.x || prev.grp.n_rows[m] < p.input.cols) continue;
        prev.silu_out = silu;
        prev.silu_mat = m;
        s.kind = kSiluTimes;
        s.x = silu;
      }
    }
    int32_t eps_bits = 0;
    std::memcpy(&eps_bits, &p.input.eps, sizeof eps_bits);
    s.eps_bits = eps_bits;
  }
  a.n = n;
  a.counters = counters;
  a.slot_bytes = l.slot_bytes;
  a.n_slots = l.n_slots;
  a.x_bytes = l.x_bytes;
  static size_t allowed = 48 * 1024;
  raise_smem(decode_chain_kernel, static_cast<size_t>(l.smem), allowed);
  // One block a multiprocessor, all resident at once (the grid's barrier needs them all):
  // the shared memory admits one a multiprocessor, and the launch after it cannot start
  // before every block has begun (it waits for each block to reach wait_for_prior_kernels).
  launch_chained(decode_chain_kernel, dim3(static_cast<unsigned>(dev.sms)), dim3(32 * (kWarps + 1)),
                 static_cast<size_t>(l.smem), a);
  check_launch("decode chain");
}

}  // namespace greta::cuda
