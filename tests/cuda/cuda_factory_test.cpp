// Creating backends by name: "auto" takes the GPU when there is one, and asking for CUDA
// where there is none is a clear input error that names the way out.
#include <gtest/gtest.h>

#include "cuda_fixture.h"
#include "greta/error.h"

namespace greta::test {
namespace {

TEST(CudaFactory, AutoPicksTheGpuWhenOneIsPresent) {
  if (!cuda_device_available()) {
    // What CI can check without a GPU: the message tells the user which backend to use.
    try {
      make_backend("cuda", 1);
      ADD_FAILURE() << "make_backend(\"cuda\") succeeded without a CUDA device";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--backend cpu"), std::string::npos) << e.what();
    }
    EXPECT_EQ(make_backend("auto", 1)->name().rfind("cpu", 0), 0u);
  }
  GRETA_REQUIRE_CUDA();
  EXPECT_EQ(make_backend("auto", 1)->name().rfind("cuda", 0), 0u);
  EXPECT_EQ(make_backend("cpu", 1)->name().rfind("cpu", 0), 0u);
  std::printf("auto backend: %s\n", make_backend("auto", 1)->name().c_str());
}

}  // namespace
}  // namespace greta::test
