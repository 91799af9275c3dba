// Chat templates render the published formats exactly.
#include <gtest/gtest.h>

#include "greta/error.h"
#include "tokenizer_test_data.h"

namespace greta::tokenizer::test {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "SYS"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};

TEST(ChatTemplate, Llama3TwoTurnsWithSystem) {
  const ChatTemplate t = ChatTemplate::from_name("llama3");
  EXPECT_EQ(t.render(kConversation, true),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(t.render({{"user", "  padded \n"}}, false),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\npadded<|eot_id|>");
}

TEST(ChatTemplate, Llama2TwoTurnsWithSystem) {
  const ChatTemplate t = ChatTemplate::from_name("llama2");
  EXPECT_EQ(t.render(kConversation, true),
            "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]");
  EXPECT_EQ(t.render({{"user", "Hi"}}, true), "<s>[INST] Hi [/INST]");
  EXPECT_THROW(t.render({{"user", "a"}, {"user", "b"}}, true), InputError);
}

TEST(ChatTemplate, ChatMLTwoTurnsWithSystem) {
  const ChatTemplate t = ChatTemplate::from_name("chatml");
  EXPECT_EQ(t.render(kConversation, true),
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n"
            "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.render({{"user", "U"}}, false), "<|im_start|>user\nU<|im_end|>\n");
}

TEST(ChatTemplate, RecognisesTemplateText) {
  EXPECT_EQ(ChatTemplate::for_vocab(llama3_hf_vocab()).format(), ChatFormat::Llama3);
  EXPECT_EQ(ChatTemplate::from_template_text("{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}").format(),
            ChatFormat::ChatML);
  EXPECT_EQ(ChatTemplate::from_template_text("{{ bos_token + '[INST] ' + content + ' [/INST]' }}").format(),
            ChatFormat::Llama2);
  EXPECT_THROW(ChatTemplate::from_name("vicuna"), InputError);
  // Phi-3's own format is not one of the three.
  const Vocab phi3 = Vocab::from_gguf(gguf::GgufFile::open(greta::test::shared_path("tokenizers/vectors/ggml-vocab-phi-3.gguf")));
  EXPECT_THROW(ChatTemplate::for_vocab(phi3), InputError);
  const Vocab none = Vocab::from_gguf(gguf::GgufFile::open(greta::test::shared_path("models/stories260K.gguf")));
  EXPECT_THROW(ChatTemplate::for_vocab(none), InputError);
}

TEST(ChatTemplate, RendersTheAuditPrompt) {
  const ChatTemplate t = ChatTemplate::for_vocab(llama3_hf_vocab());
  EXPECT_EQ(t.render({{"system", "You are a helpful assistant."}, {"user", "Hi"}}, true),
            read_file(greta::test::shared_path("prompts/p4_sys.txt")));
}

TEST(ChatTemplate, ContinuationForEachFormat) {
  const std::vector<ChatMessage> history(kConversation.begin(), kConversation.begin() + 3);
  const std::vector<ChatMessage> added = {kConversation[3]};
  EXPECT_EQ(ChatTemplate::from_name("llama3").render_continuation(history, added, true),
            "<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(ChatTemplate::from_name("chatml").render_continuation(history, added, true),
            "\n<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(ChatTemplate::from_name("llama2").render_continuation(history, added, true), "<s>[INST] U2 [/INST]");
  EXPECT_EQ(ChatTemplate::from_name("llama3").render_continuation({}, added, false),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|>");
}

TEST(ChatTemplate, ContinuationExtendsTheCachedTokens) {
  // What a REPL keeps in its cache (first prompt, the answer, its <|eot_id|>) followed by
  // the continuation is token for token the whole conversation rendered at once.
  const Tokenizer& tok = llama3_hf();
  const ChatTemplate t = ChatTemplate::for_vocab(tok.vocab());
  const std::vector<ChatMessage> first = {kConversation[0], kConversation[1]};
  const std::vector<ChatMessage> history(kConversation.begin(), kConversation.begin() + 3);
  std::vector<TokenId> cached = tok.encode(t.render(first, true), false, true);
  for (TokenId id : tok.encode("A1", false, false)) cached.push_back(id);
  cached.push_back(tok.eot());
  for (TokenId id : tok.encode(t.render_continuation(history, {kConversation[3]}, true), false, true)) cached.push_back(id);
  EXPECT_EQ(cached, tok.encode(t.render(kConversation, true), false, true));
}

}  // namespace
}  // namespace greta::tokenizer::test
