#pragma once
// Creates a compute backend by name, so that callers need not know which backends were
// built in.
#include <memory>
#include <string>

#include "model/backend.h"

namespace greta {

// "cpu", "cuda" or "auto" (cuda when built with CUDA and a device is present, else cpu).
// threads: CPU threads (0: all hardware threads). precision: "" for the backend's default,
// "fast" or "exact": on CUDA, fast (the default) is f16 tensor-core prefill with an f16 KV
// cache and exact the f32 contract throughout; the CPU backend has only the exact contract
// and refuses "fast". InputError when "cuda" is asked for and this build has no CUDA
// backend or the machine has no CUDA device, and for an unknown name or precision.
// On CUDA, decode steps replay as CUDA graphs unless the environment sets GRETA_CUDA_GRAPHS=0,
// a step like the last one is launched before its record unless it sets GRETA_CUDA_EARLY=0,
// and the products run as decode chains (an experiment, slower so far) if it sets
// GRETA_CUDA_CHAIN=1.
std::unique_ptr<Backend> make_backend(const std::string& name, int threads, const std::string& precision = "");

// Whether this build contains the CUDA backend.
bool cuda_backend_built();
// Whether the CUDA backend is built and at least one CUDA device is present.
bool cuda_device_available();

}  // namespace greta
