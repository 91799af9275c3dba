#pragma once
// What the backend's kernels ask of the device once: its multiprocessors, compute
// capability and the shared memory a block may opt into, and the opt-in itself.
#include <cuda_runtime.h>

#include <cstddef>

#include "backend/cuda/cuda_ops.h"

namespace greta::cuda {
namespace {

// The current device's multiprocessors, compute capability and the shared memory a block
// may opt into (queried once per file that asks: the backend uses one device).
struct DeviceLimits {
  int sms = 0, cc_major = 0, smem_optin = 0;
};
inline const DeviceLimits& device_limits() {
  static const DeviceLimits limits = [] {
    DeviceLimits l;
    int dev = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&l.sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&l.cc_major, cudaDevAttrComputeCapabilityMajor, dev), "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&l.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), "cudaDeviceGetAttribute");
    return l;
  }();
  return limits;
}

// Lets `kernel` take `smem` bytes of dynamic shared memory; `allowed`: what it was allowed
// so far (one variable per kernel instance, raised once for the largest launch).
template <class K>
void raise_smem(K kernel, size_t smem, size_t& allowed) {
  if (smem > allowed) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
          "cudaFuncSetAttribute (dynamic shared memory)");
    allowed = smem;
  }
}

}  // namespace
}  // namespace greta::cuda
