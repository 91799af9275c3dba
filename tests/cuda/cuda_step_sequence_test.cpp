// The rule for launching a step before its record (StepSequence): only the last replayed
// step again, one position on, on the same state, with no memory change since and a record
// that said one position on launches the same. Plain C++: runs without a GPU.
#include <gtest/gtest.h>

#include "backend/cuda/cuda_step_sequence.h"

namespace greta::test {
namespace {

using cuda::StepSequence;

// The inputs of a one-row step at `pos` writing `state`.
struct OneRow {
  int32_t token = 7, pos;
  float cos_sin[2] = {1.0f, 0.0f};
  StepInputs in;
  OneRow(int32_t p, const void* state) : pos(p), in{&token, &pos, cos_sin, 1, 2, state} {}
};

int cache_a, cache_b;  // two states

// Records and replays the step at `pos` (the attention split staying or not).
void replay(StepSequence& s, int32_t pos, const void* state, bool next_differs = false) {
  s.record_started();
  if (next_differs) s.next_position_differs();
  s.replayed(OneRow(pos, state).in);
}

TEST(CudaStepSequence, OnlyTheNextPositionOfTheLastReplayedStepOnItsState) {
  StepSequence s;
  EXPECT_FALSE(s.may_launch_early(OneRow(0, &cache_a).in));  // nothing replayed yet
  replay(s, 10, &cache_a);
  EXPECT_TRUE(s.may_launch_early(OneRow(11, &cache_a).in));
  EXPECT_FALSE(s.may_launch_early(OneRow(10, &cache_a).in));  // the same position again
  EXPECT_FALSE(s.may_launch_early(OneRow(12, &cache_a).in));  // a position skipped
  EXPECT_FALSE(s.may_launch_early(OneRow(9, &cache_a).in));   // back (a truncated cache)
  EXPECT_FALSE(s.may_launch_early(OneRow(11, &cache_b).in));  // another session's cache
  EXPECT_FALSE(s.may_launch_early(OneRow(11, nullptr).in));   // a step that names no state
  replay(s, 11, &cache_a);
  EXPECT_TRUE(s.may_launch_early(OneRow(12, &cache_a).in));
}

TEST(CudaStepSequence, NotAfterAMemoryChangeOrASplitChange) {
  StepSequence s;
  replay(s, 10, &cache_a);
  s.memory_changed();
  EXPECT_FALSE(s.may_launch_early(OneRow(11, &cache_a).in));
  // A change during the step's own record (a scratch buffer grown) is before its graph.
  s.record_started();
  s.memory_changed();
  s.replayed(OneRow(11, &cache_a).in);
  EXPECT_TRUE(s.may_launch_early(OneRow(12, &cache_a).in));
  // The record said one key more splits the attention differently.
  replay(s, 12, &cache_a, true);
  EXPECT_FALSE(s.may_launch_early(OneRow(13, &cache_a).in));
  replay(s, 13, &cache_a);
  EXPECT_TRUE(s.may_launch_early(OneRow(14, &cache_a).in));
}

TEST(CudaStepSequence, NotAfterAStepThatWasNotReplayedOrHadSeveralRows) {
  StepSequence s;
  replay(s, 10, &cache_a);
  s.not_replayed();  // the next step ran directly
  EXPECT_FALSE(s.may_launch_early(OneRow(11, &cache_a).in));

  replay(s, 20, &cache_a);
  OneRow next(21, &cache_a);
  next.in.rows = 2;  // two rows from here: never launched early
  EXPECT_FALSE(s.may_launch_early(next.in));
  int32_t tokens[2] = {1, 2}, pos[2] = {21, 22};
  float cos_sin[4] = {};
  s.record_started();
  s.replayed(StepInputs{tokens, pos, cos_sin, 2, 2, &cache_a});
  EXPECT_FALSE(s.may_launch_early(OneRow(23, &cache_a).in));
}

}  // namespace
}  // namespace greta::test
