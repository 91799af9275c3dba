// The --inject grammar: valid specs parse, bad ones are refused with a message.
#include <gtest/gtest.h>

#include "greta/error.h"
#include "model/fault.h"

namespace greta {
namespace {

TEST(FaultSpec, ParsesEveryKind) {
  auto f = parse_fault("decode:wo_out@3:transpose", 5);
  EXPECT_TRUE(f.on_decode);
  EXPECT_FALSE(f.on_prefill);
  EXPECT_EQ(f.point, trace::Point::wo_out);
  EXPECT_EQ(f.layer, 3);
  EXPECT_EQ(f.kind, FaultKind::Transpose);
  f = parse_fault("both:attn_out:offset=2", 5);
  EXPECT_TRUE(f.on_decode && f.on_prefill);
  EXPECT_EQ(f.layer, -1);
  EXPECT_EQ(f.arg, 2);
  EXPECT_EQ(parse_fault("prefill:q@0:scale=1.001", 5).arg, 1.001);
  EXPECT_EQ(parse_fault("prefill:q@0:zero", 5).kind, FaultKind::Zero);
  EXPECT_EQ(parse_fault("prefill:q@0:noise=0.1", 5).kind, FaultKind::Noise);
  EXPECT_EQ(parse_fault("prefill:ffn_act@0:skip", 5).kind, FaultKind::Skip);
  EXPECT_EQ(parse_fault("decode:lm_head_in:scale=2", 5).point, trace::Point::final_norm);
}

TEST(FaultSpec, RefusesBadSpecs) {
  for (const char* bad : {"", "decode", "decode:wo_out", "sideways:wo_out:zero", "decode:nope:zero",
                          "decode:wo_out@9:zero", "decode:wo_out@-1:zero", "decode:wo_out@x:zero",
                          "decode:wo_out:melt", "decode:wo_out:scale", "decode:wo_out:scale=abc",
                          "decode:wo_out:zero=1", "decode:attn_norm:transpose", "decode:wo_out:offset=0",
                          "decode:wo_out:noise=-1", "decode:wo_out:offset=1.5", "a:b:c:d"}) {
    EXPECT_THROW(parse_fault(bad, 5), InputError) << bad;
  }
}

}  // namespace
}  // namespace greta
