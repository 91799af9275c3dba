#include "backend/backend_factory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "greta/error.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace greta {

bool cuda_backend_built() {
#ifdef GRETA_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_device_available() {
#ifdef GRETA_HAVE_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, int threads, const std::string& precision) {
  if (!precision.empty() && precision != "fast" && precision != "exact")
    throw InputError("unknown precision '" + precision + "' (expected fast or exact)");
  const bool want_cuda = name == "cuda" || (name == "auto" && cuda_device_available());
  if (want_cuda) {
#ifdef GRETA_HAVE_CUDA
    if (!cuda_device_available()) throw InputError("no CUDA device found: use --backend cpu");
    cuda::CudaOptions options;
    if (precision == "exact") options = cuda::CudaOptions{false, TensorType::F32};
    // GRETA_CUDA_GRAPHS=0 launches every kernel of a decode step on its own, for comparisons.
    const char* graphs = std::getenv("GRETA_CUDA_GRAPHS");
    options.graphs = !(graphs && std::strcmp(graphs, "0") == 0);
    // GRETA_CUDA_EARLY=0 records every replayed step before launching it, for comparisons.
    const char* early = std::getenv("GRETA_CUDA_EARLY");
    options.early_launch = !(early && std::strcmp(early, "0") == 0);
    // GRETA_CUDA_CHAIN=1 runs a decode step's products as decode chains (cuda_backend.h).
    const char* chain = std::getenv("GRETA_CUDA_CHAIN");
    options.chain = chain && std::strcmp(chain, "1") == 0;
    // GRETA_CUDA_ATTN_MMA=0 keeps split decode attention off the tensor cores, for comparisons.
    const char* attn_mma = std::getenv("GRETA_CUDA_ATTN_MMA");
    options.attention_mma = !(attn_mma && std::strcmp(attn_mma, "0") == 0);
    // GRETA_CUDA_ATTN_CLUSTER=0 merges those segments with a combine launch, for comparisons.
    const char* attn_cluster = std::getenv("GRETA_CUDA_ATTN_CLUSTER");
    options.attention_cluster = !(attn_cluster && std::strcmp(attn_cluster, "0") == 0);
    // GRETA_CUDA_NORM_PARTS=0 keeps the add + rmsnorm kernel between decode products, for comparisons.
    const char* norm_parts = std::getenv("GRETA_CUDA_NORM_PARTS");
    options.norm_parts = !(norm_parts && std::strcmp(norm_parts, "0") == 0);
    return std::make_unique<cuda::CudaBackend>(0, options);
#else
    throw InputError("this greta was built without the CUDA backend: use --backend cpu");
#endif
  }
  if (name != "cpu" && name != "auto") throw InputError("unknown backend '" + name + "' (expected cpu, cuda or auto)");
  if (precision == "fast")
    throw InputError("--precision fast is a CUDA setting: the CPU backend computes in f32 only (use exact or leave it out)");
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::make_unique<cpu::CpuBackend>(n);
}

}  // namespace greta
