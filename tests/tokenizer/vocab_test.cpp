// Vocabulary metadata: GGUF round trip and the errors bad metadata must give.
#include <gtest/gtest.h>

#include "gguf/gguf_writer.h"
#include "greta/error.h"
#include "tokenizer_test_data.h"

namespace greta::tokenizer::test {
namespace {

gguf::GgufFile to_gguf(const gguf::GgufWriter& w) { return gguf::GgufFile::from_bytes(w.write_bytes(), "vocab-test.gguf"); }

Vocab tiny_spm() {
  Vocab v;
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab"};
  v.scores = {0, 0, 0, -1, -2, -3, -0.5f, -0.25f};
  v.token_types = {2, 3, 3, 1, 1, 1, 1, 1};
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_bos = true;
  v.chat_template = "{{ '[INST]' }}";
  return v;
}

TEST(Vocab, GgufRoundTripSpm) {
  const Vocab v = tiny_spm();
  gguf::GgufWriter w;
  write_vocab(v, w);
  const Vocab back = Vocab::from_gguf(to_gguf(w));
  EXPECT_EQ(back.model, v.model);
  EXPECT_EQ(back.tokens, v.tokens);
  EXPECT_EQ(back.scores, v.scores);
  EXPECT_EQ(back.token_types, v.token_types);
  EXPECT_EQ(back.bos_id, 1);
  EXPECT_EQ(back.eos_id, 2);
  EXPECT_EQ(back.unk_id, 0);
  EXPECT_EQ(back.eot_id, kNoToken);
  EXPECT_TRUE(back.add_bos);
  EXPECT_FALSE(back.add_eos);
  EXPECT_TRUE(back.add_space_prefix);
  EXPECT_EQ(back.chat_template, v.chat_template);
  const Tokenizer tok(back);
  // "▁ab": the pair "ab" (-0.25) outscores "▁a" (-0.5) and merges first.
  EXPECT_EQ(tok.encode("ab", true, false), (std::vector<TokenId>{1, 3, 7}));
  EXPECT_EQ(tok.encode("a", false, false), (std::vector<TokenId>{6}));
  EXPECT_EQ(tok.encode("ba", false, false), (std::vector<TokenId>{3, 5, 4}));
  // 'c' is not a token and there are no byte tokens: it becomes unk.
  EXPECT_EQ(tok.encode("c", false, false), (std::vector<TokenId>{3, 0}));
}

TEST(Vocab, SpmPiecesAcrossWordsWhenTheVocabularyHasThem) {
  // A token with "▁" inside ("a▁b") can span two words, so the tokenizer must merge over
  // the whole text rather than word by word.
  Vocab v = tiny_spm();
  v.tokens = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "a\xE2\x96\x81", "a\xE2\x96\x81" "b"};
  v.scores = {0, 0, 0, -3, -3, -3, -1, -0.5f};
  const Tokenizer tok(v);
  EXPECT_EQ(tok.encode("a b", false, false), (std::vector<TokenId>{3, 7}));
  EXPECT_EQ(tok.decode(tok.encode("a b", false, false)), "a b");
}

TEST(Vocab, GgufRoundTripBpe) {
  const Vocab& v = llama3_hf_vocab();
  gguf::GgufWriter w;
  write_vocab(v, w);
  const Vocab back = Vocab::from_gguf(to_gguf(w));
  EXPECT_EQ(back.model, "gpt2");
  EXPECT_EQ(back.pre, "llama-bpe");
  EXPECT_EQ(back.tokens, v.tokens);
  EXPECT_EQ(back.merges, v.merges);
  EXPECT_EQ(back.token_types, v.token_types);
  EXPECT_EQ(back.bos_id, v.bos_id);
  EXPECT_EQ(back.eos_id, v.eos_id);
  EXPECT_EQ(back.eot_id, v.eot_id);
  EXPECT_EQ(back.add_bos, v.add_bos);
  EXPECT_FALSE(back.add_space_prefix);
  EXPECT_EQ(back.chat_template, v.chat_template);
  const std::string p4 = read_file(greta::test::shared_path("prompts/p4_sys.txt"));
  EXPECT_EQ(Tokenizer(back).encode(p4, false, true), llama3_hf().encode(p4, false, true));
}

TEST(Vocab, NoVocabModel) {
  gguf::GgufWriter w;
  w.set("tokenizer.ggml.model", gguf::Value::string("no_vocab"));
  const Vocab v = Vocab::from_gguf(to_gguf(w));
  EXPECT_EQ(v.model, "no_vocab");
  EXPECT_THROW(Tokenizer{v}, InputError);
}

TEST(Vocab, SynthModelHasNoVocab) {
  const Vocab v = Vocab::from_gguf(gguf::GgufFile::open(greta::test::shared_path("models/synth-tiny-q4_k_m.gguf")));
  EXPECT_EQ(v.model, "no_vocab");
}

void expect_input_error(const gguf::GgufWriter& w, const std::string& fragment) {
  try {
    (void)Vocab::from_gguf(to_gguf(w));
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Vocab, BadMetadataIsAnInputError) {
  {
    gguf::GgufWriter w;  // no tokenizer at all
    expect_input_error(w, "tokenizer.ggml.model");
  }
  {
    gguf::GgufWriter w;
    write_vocab(tiny_spm(), w);
    w.set("tokenizer.ggml.model", gguf::Value::string("wordpiece"));
    expect_input_error(w, "wordpiece");
  }
  {
    gguf::GgufWriter w;
    write_vocab(tiny_spm(), w);
    w.set("tokenizer.ggml.scores", gguf::Value::f32_array({0, 1}));
    expect_input_error(w, "scores");
  }
  {
    gguf::GgufWriter w;
    write_vocab(tiny_spm(), w);
    w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(99));
    expect_input_error(w, "bos_token_id");
  }
  {
    gguf::GgufWriter w;
    write_vocab(tiny_spm(), w);
    w.set("tokenizer.ggml.token_type", gguf::Value::i32_array({1, 1, 1, 1, 1, 1, 1, 9}));
    expect_input_error(w, "type 9");
  }
  {
    gguf::GgufWriter w;
    Vocab v = tiny_spm();
    v.model = "gpt2";
    write_vocab(v, w);
    expect_input_error(w, "merges");
  }
  {
    gguf::GgufWriter w;
    write_vocab(tiny_spm(), w);
    w.set("tokenizer.ggml.tokens", gguf::Value::array(gguf::ValueType::U32, {}));
    expect_input_error(w, "tokenizer.ggml.tokens");
  }
}

TEST(Vocab, UnknownPreTokenizerIsAnError) {
  Vocab v = llama3_hf_vocab();
  v.pre = "qwen2";
  try {
    Tokenizer tok(v);
    ADD_FAILURE() << "an unknown pre-tokenizer was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2"), std::string::npos) << e.what();
  }
}

TEST(Vocab, BadBuilderInputIsAnInputError) {
  EXPECT_THROW(vocab_from_hf_tokenizer(greta::test::shared_path("prompts/llama3_tokens.json")), InputError);
  EXPECT_THROW(vocab_from_hf_tokenizer(greta::test::shared_path("no/such/tokenizer.json")), InputError);
  EXPECT_THROW(vocab_from_tiktoken(greta::test::shared_path("prompts/p4_sys.txt")), InputError);
}

}  // namespace
}  // namespace greta::tokenizer::test
