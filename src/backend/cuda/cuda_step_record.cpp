#include "backend/cuda/cuda_step_record.h"

#include <cstdlib>
#include <cstring>

namespace greta::cuda {

LaunchQueue& launch_queue() {
  thread_local LaunchQueue q;
  return q;
}

bool chained_launches_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("GRETA_CUDA_PDL");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

}  // namespace greta::cuda
