// Which product a one-token product's launch prefetches (ProductSequence): the one launched
// after it in the step before, the first one of the step after the last, none before a
// step has ended, and launches that were declined leave no trace. Plain C++: runs without a GPU.
#include <gtest/gtest.h>

#include "backend/cuda/cuda_product_sequence.h"

namespace greta::test {
namespace {

using cuda::NextProduct;
using cuda::ProductSequence;

// A product told apart by its first matrix's row count.
NextProduct product(int64_t id, bool pair = false) {
  NextProduct p;
  p.t[0].n_rows = id;
  p.n = 1;
  p.pair = pair;
  return p;
}
int64_t id_of(const NextProduct* p) { return p ? p->t[0].n_rows : -1; }

// One step launching `ids` in order; the ids each launch was told come next.
std::vector<int64_t> step(ProductSequence& s, const std::vector<int64_t>& ids) {
  std::vector<int64_t> next;
  s.step_started();
  for (int64_t id : ids) next.push_back(id_of(s.launching(product(id))));
  s.step_ended();
  return next;
}

TEST(CudaProductSequence, EachLaunchIsToldTheOneAfterItInTheLastStep) {
  ProductSequence s;
  EXPECT_EQ(step(s, {1, 2, 3, 4}), (std::vector<int64_t>{-1, -1, -1, -1}));  // nothing known yet
  EXPECT_EQ(step(s, {1, 2, 3, 4}), (std::vector<int64_t>{2, 3, 4, 1}));      // the last: the next step's first
  // A step that ran differently is what the next one is told about.
  EXPECT_EQ(step(s, {5, 6}), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(step(s, {5, 6, 7}), (std::vector<int64_t>{6, 5, 6}));
}

TEST(CudaProductSequence, DeclinedLaunchesAndEmptyStepsLeaveNoTrace) {
  ProductSequence s;
  s.step_started();
  s.launching(product(1));
  s.launching(product(9));  // the launcher declined it; the products went another way
  s.not_launched();
  s.launching(product(2, true));
  s.step_ended();
  s.step_started();
  s.step_ended();  // nothing launched (a prefill-only step): the order is kept
  s.step_started();
  EXPECT_EQ(id_of(s.launching(product(1))), 2);
  const NextProduct* after_pair = s.launching(product(2, true));
  EXPECT_EQ(id_of(after_pair), 1);
  EXPECT_FALSE(after_pair->pair);
}

}  // namespace
}  // namespace greta::test
