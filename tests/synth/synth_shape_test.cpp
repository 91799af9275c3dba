// Presets and --shape parsing.
#include "synth/synth_shape.h"

#include <gtest/gtest.h>

#include "greta/error.h"

using namespace greta::synth;

TEST(SynthShape, PresetsHaveThePublishedSizes) {
  const SynthShape tiny = preset("tiny");
  EXPECT_EQ(tiny.vocab, 4096);
  EXPECT_EQ(tiny.dim, 256);
  EXPECT_EQ(tiny.layers, 4);
  EXPECT_EQ(tiny.heads, 8);
  EXPECT_EQ(tiny.kv_heads, 4);
  EXPECT_EQ(tiny.ffn, 768);
  EXPECT_EQ(tiny.ctx, 2048);

  const SynthShape l8 = preset("llama3-8b");
  EXPECT_EQ(l8.vocab, 128256);
  EXPECT_EQ(l8.dim, 4096);
  EXPECT_EQ(l8.layers, 32);
  EXPECT_EQ(l8.heads, 32);
  EXPECT_EQ(l8.kv_heads, 8);
  EXPECT_EQ(l8.ffn, 14336);
  EXPECT_EQ(l8.ctx, 8192);
  EXPECT_EQ(l8.rope_base, 500000.0f);
  EXPECT_EQ(l8.head_dim(), 128);
  EXPECT_EQ(l8.kv_dim(), 1024);

  const SynthShape l1 = preset("llama3-1b");
  EXPECT_EQ(l1.dim, 2048);
  EXPECT_EQ(l1.layers, 16);
  EXPECT_EQ(l1.ffn, 8192);
  EXPECT_EQ(l1.kv_heads, 8);

  const SynthShape l2 = preset("llama2-7b");
  EXPECT_EQ(l2.vocab, 32000);
  EXPECT_EQ(l2.kv_heads, 32);
  EXPECT_EQ(l2.ffn, 11008);
  EXPECT_EQ(l2.ctx, 4096);
  EXPECT_EQ(l2.rope_base, 10000.0f);

  EXPECT_EQ(preset_names().size(), 4u);
  EXPECT_THROW(preset("llama4"), greta::InputError);
}

TEST(SynthShape, ParsesShapeSpec) {
  const SynthShape s = parse_shape("1000,512,3,8,2,1024,256,20000.5");
  EXPECT_EQ(s.vocab, 1000);
  EXPECT_EQ(s.dim, 512);
  EXPECT_EQ(s.layers, 3);
  EXPECT_EQ(s.heads, 8);
  EXPECT_EQ(s.kv_heads, 2);
  EXPECT_EQ(s.ffn, 1024);
  EXPECT_EQ(s.ctx, 256);
  EXPECT_FLOAT_EQ(s.rope_base, 20000.5f);
}

TEST(SynthShape, RejectsBadShapes) {
  EXPECT_THROW(parse_shape("1000,512,3,8,2,1024,256"), greta::InputError);        // 7 fields
  EXPECT_THROW(parse_shape("1000,512,3,8,2,1024,256,1e4,9"), greta::InputError);  // 9 fields
  EXPECT_THROW(parse_shape("1000,512,x,8,2,1024,256,10000"), greta::InputError);
  EXPECT_THROW(parse_shape("1000,512,3,8,2,1024,256,abc"), greta::InputError);
  EXPECT_THROW(parse_shape("1000,500,3,8,2,1024,256,10000"), greta::InputError);  // 8 ∤ 500
  EXPECT_THROW(parse_shape("1000,512,3,8,3,1024,256,10000"), greta::InputError);  // 3 ∤ 8
  EXPECT_THROW(parse_shape("1000,24,3,8,8,1024,256,10000"), greta::InputError);   // head size 3
  EXPECT_THROW(parse_shape("0,512,3,8,2,1024,256,10000"), greta::InputError);
  EXPECT_THROW(parse_shape("1000,512,-3,8,2,1024,256,10000"), greta::InputError);
  EXPECT_THROW(parse_shape("1000,512,3,8,2,1024,256,1"), greta::InputError);
  EXPECT_THROW(parse_shape(",,,,,,,"), greta::InputError);
}
