#pragma once
// Creates a compute backend by name, so that callers need not know which backends were
// built in.
#include <memory>
#include <string>

#include "model/backend.h"

namespace greta {

// "cpu", "cuda" or "auto" (cuda when built with CUDA and a device is present, else cpu).
// threads: CPU threads (0: all hardware threads). InputError when "cuda" is asked for and
// this build has no CUDA backend or the machine has no CUDA device.
std::unique_ptr<Backend> make_backend(const std::string& name, int threads);

// Whether this build contains the CUDA backend.
bool cuda_backend_built();
// Whether the CUDA backend is built and at least one CUDA device is present.
bool cuda_device_available();

}  // namespace greta
