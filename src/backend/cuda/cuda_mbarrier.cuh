#pragma once
// Shared-memory barriers (mbarrier, sm_90) that count arrivals and the bytes of bulk
// copies, and the bulk copies (one-dimensional, or a 2-D tensor map's box; global to
// shared memory, optionally with an L2 eviction policy) that complete on them: the rings
// of the Hopper GEMM (cuda_matmul_wgmma.cu) and of the streamed decode GEMV
// (cuda_gemv_f16.cu).
#include <cstdint>

namespace greta::cuda::wg {

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
// Makes the initialized barriers visible to the copy engine (async proxy).
__device__ __forceinline__ void mbar_fence_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::); }

__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// One arrival that also announces `bytes` of copies still to complete on this phase.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// Spins until the phase of the given parity has completed.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}

// Orders shared-memory accesses of the generic proxy (plain loads and stores) that this
// thread has seen happen, through a barrier, with its later accesses through the async
// proxy (bulk copies): a ring's producer, once the consumers have released a stage, before
// it copies over what they read.
__device__ __forceinline__ void fence_proxy_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// `bytes` (a multiple of 16, both addresses 16-byte aligned) from global memory to shared
// memory at dst, completing that many bytes on bar.
__device__ __forceinline__ void bulk_copy_g2s(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}

// Box {c0 (inner, elements), c1 (rows)} of a 2-D tensor map (in global, constant or
// __grid_constant__ parameter memory) to shared memory at dst (128-byte aligned),
// completing the box's bytes on bar, parts past the tensor's end as zeros; an L2 policy
// for the lines it reads.
__device__ __forceinline__ void tensor_copy_2d_hinted(uint32_t dst, const void* tmap, uint32_t bar, int c0, int c1,
                                                      uint64_t policy) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1, {%3, %4}], "
      "[%2], %5;\n" ::"r"(dst),
      "l"(tmap), "r"(bar), "r"(c0), "r"(c1), "l"(policy)
      : "memory");
}

// Fetches a tensor map into the cache of descriptors before its first copy.
__device__ __forceinline__ void tma_prefetch_desc(const void* tmap) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(tmap) : "memory");
}

// An L2 policy that marks lines as the first to evict: for data read once a step (the
// decode GEMV's weights), so that what later kernels read again stays in L2.
__device__ __forceinline__ uint64_t l2_evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
// bulk_copy_g2s with an L2 policy for the lines it reads.
__device__ __forceinline__ void bulk_copy_g2s_hinted(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar,
                                                     uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n" ::"r"(dst),
      "l"(src), "r"(bytes), "r"(bar), "l"(policy)
      : "memory");
}

// Asks L2 to fetch `bytes` (a multiple of 16, 16-byte aligned) from global memory; nothing
// waits for it.
__device__ __forceinline__ void prefetch_l2(const void* src, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(src), "r"(bytes) : "memory");
}

}  // namespace greta::cuda::wg
