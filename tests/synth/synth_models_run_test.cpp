// Every preset × type combination small enough for CI must load and run a prefill and a
// decode with finite logits whose top-1/top-2 gaps are not all zero.
//
// PENDING: this needs the model module's loading and forward API, which is not available
// yet. Until it is, the test records itself as skipped so the gap stays visible.
#include <gtest/gtest.h>

TEST(SynthModelsRun, PrefillAndDecodeGiveFiniteVariedLogits) {
  GTEST_SKIP() << "pending: needs the model module's forward pass";
}
