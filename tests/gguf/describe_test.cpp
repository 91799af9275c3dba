// describe(): the text of `greta inspect`.
#include <gtest/gtest.h>

#include "../test_support.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace greta::gguf {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(GgufDescribe, Stories260K) {
  const std::string text = describe(GgufFile::open(greta::test::shared_path("models/stories260K.gguf")));
  EXPECT_TRUE(contains(text, "GGUF v3, 1185376 bytes, alignment 32, data section at byte 14176")) << text;
  EXPECT_TRUE(contains(text, "metadata (19 keys)")) << text;
  EXPECT_TRUE(contains(text, "llama.embedding_length:                 u32 = 64")) << text;
  EXPECT_TRUE(contains(text, "general.architecture:                   string = \"llama\"")) << text;
  EXPECT_TRUE(contains(text, ": f32 = 1e-05")) << text;
  EXPECT_TRUE(contains(text, "tokenizer.ggml.tokens:                  [string x 512] = [\"<unk>\", \"<s>\", \"</s>\", "))
      << text;
  EXPECT_TRUE(contains(text, "... (507 more)]")) << text;
  EXPECT_TRUE(contains(text, "tensors (48)")) << text;
  EXPECT_TRUE(contains(text, "blk.0.ffn_down.weight     f32   172 x 64   44032")) << text;
  EXPECT_TRUE(contains(text, "  tensors     48\n")) << text;
  EXPECT_TRUE(contains(text, "  bytes       1171200\n")) << text;
  EXPECT_TRUE(contains(text, "  parameters  292800\n")) << text;
  EXPECT_TRUE(contains(text, "  f32         48 tensors, 1171200 bytes\n")) << text;
}

TEST(GgufDescribe, ShortArraysAreShownWholeAndNestedArraysNamed) {
  GgufWriter w;
  w.set("short", Value::i32_array({1, 2, 3, 4, 5, 6, 7, 8}));
  w.set("nested", Value::array(ValueType::ARRAY, {Value::array(ValueType::U32, {Value::u32(1)})}));
  w.set("text", Value::string("line\nbreak"));
  w.set("flag", Value::boolean(false));
  w.add_tensor("q", TensorType::Q4_K, {256, 2}, {});
  const std::string text = describe(GgufFile::from_bytes(w.write_bytes(), "mem.gguf"));
  EXPECT_TRUE(contains(text, "short:  [i32 x 8] = [1, 2, 3, 4, 5, 6, 7, 8]")) << text;
  EXPECT_TRUE(contains(text, "nested: [[u32 x 1] x 1] = [[1]]")) << text;
  EXPECT_TRUE(contains(text, "text:   string = \"line\\nbreak\"")) << text;
  EXPECT_TRUE(contains(text, "flag:   bool = false")) << text;
  EXPECT_TRUE(contains(text, "q     q4_K  256 x 2    288")) << text;
  EXPECT_TRUE(contains(text, "  q4_K        1 tensor, 288 bytes\n")) << text;
}

}  // namespace
}  // namespace greta::gguf
