// The streamed GEMV's tensor maps (weight_rows_map, cuda_tensor_map.h): the shapes whose
// ring stages are one tensor copy (Q8_0's rows of the 8B model) take a map, and what a map
// cannot describe is refused, so that those launches copy row by row instead. What the
// mapped copies put in the ring is checked by the GEMV tests of cuda_ops_test.cpp
// (StreamedGemvHasTheTileKernelsBits, GateUpWithSwiGLUInOneLaunchKeepsTheBits: Q8_0 rows
// with partial tiles, bit for bit against the tile kernel).
#include <gtest/gtest.h>

#include <cstdlib>

#include "cuda_fixture.h"
#ifdef GRETA_HAVE_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/cuda_tensor_map.h"
#endif

namespace greta::test {
namespace {

TEST(CudaRingMaps, WeightRowsMapTakesTheStreamedShapesAndRefusesTheRest) {
  GRETA_REQUIRE_CUDA();
#ifdef GRETA_HAVE_CUDA
  if (std::getenv("GRETA_CUDA_RING_MAPS")) GTEST_SKIP() << "GRETA_CUDA_RING_MAPS is set: maps may be off";
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 1 << 20), cudaSuccess);
  const auto* w = static_cast<const uint8_t*>(p);
  constexpr int kQ80Box = 1088 + 16;  // a Q8_0 chunk row (32 blocks) and the ring's padding
  using cuda::weight_rows_map;
  CUtensorMap map;
  // Q8_0 rows of 4096 and 14336 weights (4352 and 15232 bytes); 16 rows a stage, or 8 of
  // each matrix of a gate and up pair.
  EXPECT_TRUE(weight_rows_map(w, 4352, 6144, kQ80Box, 16, map));
  EXPECT_TRUE(weight_rows_map(w, 15232, 4096, kQ80Box, 16, map));
  EXPECT_TRUE(weight_rows_map(w, 4352, 14336, kQ80Box, 8, map));
  EXPECT_TRUE(weight_rows_map(w, 4352, 1030, kQ80Box, 16, map));  // the last tile's box reaches past the end
  // F16's chunk rows (2048 + 16 bytes) are wider than a box row of 256 eight-byte elements.
  EXPECT_FALSE(weight_rows_map(w, 8192, 4096, 2048 + 16, 16, map));
  EXPECT_FALSE(weight_rows_map(w + 8, 4352, 16, kQ80Box, 16, map));  // start not 16-byte aligned
  EXPECT_FALSE(weight_rows_map(w, 4352 + 8, 16, kQ80Box, 16, map));  // rows not 16-byte multiples
  EXPECT_FALSE(weight_rows_map(w, 4352, 16, kQ80Box + 8, 16, map));  // box rows not 16-byte multiples
  EXPECT_FALSE(weight_rows_map(w, 4352, int64_t{1} << 31, kQ80Box, 16, map));  // rows past int32 coordinates
  cudaFree(p);
#endif
}

}  // namespace
}  // namespace greta::test
