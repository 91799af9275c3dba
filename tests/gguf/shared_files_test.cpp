// Reading the real GGUF files in ../shared.
#include <gtest/gtest.h>

#include "../test_support.h"
#include "gguf/gguf_file.h"

namespace greta::gguf {
namespace {

TEST(GgufSharedFiles, Stories260K) {
  const GgufFile f = GgufFile::open(greta::test::shared_path("models/stories260K.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.file_size(), 1185376u);
  EXPECT_EQ(f.data_offset(), 14176u);
  EXPECT_EQ(f.metadata().size(), 19u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_uint("llama.embedding_length"), 64u);
  EXPECT_EQ(f.get_uint("llama.block_count"), 5u);
  EXPECT_EQ(f.get_uint("llama.feed_forward_length"), 172u);
  EXPECT_EQ(f.get_uint("llama.attention.head_count"), 8u);
  EXPECT_EQ(f.get_uint("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.seperator_token_id"), 4294967295u);
  EXPECT_NEAR(*f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  const Array* tokens = f.get_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->elem_type, ValueType::STRING);
  ASSERT_EQ(tokens->items.size(), 512u);
  EXPECT_EQ(tokens->items[1].as_string(), "<s>");
  EXPECT_EQ(f.get_array("tokenizer.ggml.scores")->elem_type, ValueType::F32);
  EXPECT_EQ(f.get_array("tokenizer.ggml.token_type")->items[0].as_i64(), 2);

  ASSERT_EQ(f.tensors().size(), 48u);
  const TensorInfo* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, TensorType::F32);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd->n_bytes, 64u * 512 * 4);
  EXPECT_EQ(embd->n_rows(), 512);
  const TensorInfo* down = f.find_tensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape, (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(down->offset, 355840u);
  const TensorInfo* last = f.find_tensor("blk.4.ffn_norm.weight");
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(f.data_offset() + last->offset + last->n_bytes, f.file_size());
  // The norm weights of a trained model are not all zero.
  const float* w = reinterpret_cast<const float*>(f.tensor_data(*last));
  float sum = 0;
  for (int i = 0; i < 64; ++i) sum += w[i] * w[i];
  EXPECT_GT(sum, 0.0f);
}

TEST(GgufSharedFiles, SynthTinyMixHasOneTypePerRole) {
  const GgufFile f = GgufFile::open(greta::test::shared_path("models/synth-tiny-mix.gguf"));
  EXPECT_EQ(f.get_string("general.name"), "synthetic-tiny-mix");
  EXPECT_EQ(f.get_uint("general.alignment"), 32u);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "no_vocab");
  EXPECT_EQ(f.tensors().size(), 39u);
  const std::vector<std::pair<const char*, TensorType>> roles = {
      {"token_embd.weight", TensorType::Q4_K},     {"output.weight", TensorType::Q6_K},
      {"blk.0.attn_q.weight", TensorType::Q4_K},   {"blk.0.attn_k.weight", TensorType::Q5_K},
      {"blk.0.attn_v.weight", TensorType::Q6_K},   {"blk.0.attn_output.weight", TensorType::Q8_0},
      {"blk.0.ffn_gate.weight", TensorType::Q4_0}, {"blk.0.ffn_up.weight", TensorType::BF16},
      {"blk.3.ffn_down.weight", TensorType::F16},  {"output_norm.weight", TensorType::F32},
  };
  for (const auto& [name, type] : roles) {
    const TensorInfo* t = f.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->type, type) << name;
  }
  EXPECT_EQ(f.find_tensor("token_embd.weight")->n_bytes, 4096u * 144);
  EXPECT_EQ(f.find_tensor("blk.3.ffn_down.weight")->shape, (std::vector<int64_t>{768, 256}));
}

TEST(GgufSharedFiles, SynthTinyQ4KM) {
  const GgufFile f = GgufFile::open(greta::test::shared_path("models/synth-tiny-q4_k_m.gguf"));
  EXPECT_EQ(f.get_uint("llama.embedding_length"), 256u);
  EXPECT_EQ(f.get_uint("llama.vocab_size"), 4096u);
  EXPECT_EQ(f.find_tensor("output.weight")->type, TensorType::Q6_K);
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, TensorType::Q4_K);
  EXPECT_NEAR(*f.get_float("llama.rope.freq_base"), 10000.0, 0);
}

TEST(GgufSharedFiles, VocabOnlyFiles) {
  // No tensors, and the file ends right after the header (no padded data section).
  const GgufFile spm = GgufFile::open(greta::test::shared_path("tokenizers/vectors/ggml-vocab-llama-spm.gguf"));
  EXPECT_TRUE(spm.tensors().empty());
  EXPECT_EQ(spm.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(spm.get_array("tokenizer.ggml.tokens")->items.size(), 32000u);
  EXPECT_EQ(spm.get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(spm.get_bool("tokenizer.ggml.add_eos_token"), false);

  const GgufFile phi = GgufFile::open(greta::test::shared_path("tokenizers/vectors/ggml-vocab-phi-3.gguf"));
  EXPECT_EQ(phi.get_string("general.architecture"), "phi3");
  EXPECT_EQ(phi.get_array("tokenizer.ggml.tokens")->items.size(), 32064u);
  EXPECT_EQ(phi.get_uint("tokenizer.ggml.eos_token_id"), 32000u);
  EXPECT_NE(phi.get_string("tokenizer.chat_template")->find("<|assistant|>"), std::string::npos);
}

}  // namespace
}  // namespace greta::gguf
