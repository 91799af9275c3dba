// A chained kernel starts before the previous kernel has written its output, so what earlier
// kernels wrote must not be read through the read-only path (ld.global.nc: __ldg or a
// `const T* __restrict__` parameter): that path promises bytes that do not change while the
// kernel runs, and ptxas then may schedule the load above griddepcontrol.wait (it did, see
// src/backend/cuda/cuda_launch.cuh). This test reads the PTX of the kernels that take no
// weights (attention, the combine pass, rope, the KV store, SwiGLU, ...), built with the
// tests, and fails on any read-only load in a kernel that waits. Kernels that read weights
// may use the path for them: rmsnorm (its gain) and the embedding (its table) are exempt,
// and the tensor-core GEMVs, whose weights are integer codes or f16 read as integers, may
// read no float through it (their activations are f32).
// Needs no GPU, only a CUDA build (and its build tree).
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "../test_support.h"

namespace greta::test {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}

struct Entry {
  std::string name, body;
};

// The .entry blocks of a PTX file (each up to the next .entry).
std::vector<Entry> entries(const std::string& ptx) {
  std::vector<Entry> out;
  size_t at = ptx.find(".entry ");
  while (at != std::string::npos) {
    const size_t next = ptx.find(".entry ", at + 7);
    const size_t name_end = ptx.find('(', at);
    out.push_back({ptx.substr(at + 7, name_end - at - 7), ptx.substr(at, next == std::string::npos ? next : next - at)});
    at = next;
  }
  return out;
}

TEST(CudaPtxLoads, ChainedKernelsReadNoActivationThroughTheReadOnlyPath) {
#ifndef GRETA_CUDA_PTX
  std::printf("built without CUDA (no kernel PTX to read): skipped\n");
  GTEST_SKIP() << "built without CUDA (no kernel PTX to read)";
#else
  const std::vector<std::string> files = split(GRETA_CUDA_PTX, '|');
  ASSERT_FALSE(files.empty());
  if (!std::filesystem::exists(files.front())) {
    // A test binary copied away from its build tree (to a GPU machine) has no PTX beside it.
    std::printf("kernel PTX not found (test binary away from its build tree): skipped\n");
    GTEST_SKIP() << "kernel PTX not found (test binary away from its build tree)";
  }
  int chained = 0;
  for (const std::string& file : files) {
    const std::string ptx = read_file(file);
    ASSERT_FALSE(ptx.empty()) << "cannot read " << file;
    for (const Entry& e : entries(ptx)) {
      if (count_of(e.body, "griddepcontrol.wait") == 0) continue;  // not chained
      ++chained;
      const bool reads_weights =
          e.name.find("rmsnorm_kernel") != std::string::npos || e.name.find("embed_kernel") != std::string::npos;
      if (e.name.find("gemv_f16") != std::string::npos) {
        EXPECT_EQ(count_of(e.body, "ld.global.nc.f32") + count_of(e.body, "ld.global.nc.v2.f32") +
                      count_of(e.body, "ld.global.nc.v4.f32"),
                  0u)
            << e.name << " in " << file;
      } else if (!reads_weights) {
        EXPECT_EQ(count_of(e.body, "ld.global.nc"), 0u) << e.name << " in " << file;
      }
    }
  }
  // The attention, combine, flash attention, elementwise and GEMV kernels are all chained.
  EXPECT_GE(chained, 30);
#endif
}

}  // namespace
}  // namespace greta::test
