#pragma once
// Chat templates for the three prompt formats Llama-family models use. The Jinja text
// in tokenizer.chat_template is not executed: it is recognised (by the markers each
// format uses) and rendered by code that writes the published format exactly.
//
//   llama3: <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>...
//           generation prompt <|start_header_id|>assistant<|end_header_id|>\n\n
//           (content trimmed, as Meta's template does)
//   llama2: <s>[INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER [/INST] ANSWER </s><s>[INST] USER [/INST]
//           (content trimmed; roles must alternate user/assistant after an optional
//           system message; there is no generation prompt: the answer follows [/INST])
//   chatml: <|im_start|>ROLE\nCONTENT<|im_end|>\n ... generation prompt <|im_start|>assistant\n
#include <string>
#include <string_view>
#include <vector>

namespace greta::tokenizer {

struct Vocab;

enum class ChatFormat { Llama3, Llama2, ChatML };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  // "llama3", "llama2" or "chatml"; InputError otherwise.
  static ChatTemplate from_name(std::string_view name);
  // Recognises a Jinja chat template's format; InputError when it is none of the three.
  static ChatTemplate from_template_text(std::string_view jinja);
  // The vocabulary's tokenizer.chat_template, with its BOS/EOS texts; InputError when
  // the vocabulary has none or it is not recognised.
  static ChatTemplate for_vocab(const Vocab& vocab);

  ChatFormat format() const { return format_; }
  std::string_view name() const;

  // The whole conversation. The text starts with the BOS text where the format has one,
  // so encode it with add_special = false and parse_special = true.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  // For a multi-turn session that keeps its KV cache: the text to feed after the cache
  // already holds render(history before the last answer, true) followed by the tokens of
  // the last answer up to and including the end-of-turn token that ended it
  // (<|eot_id|>, <|im_end|>, </s>). `history` includes that answer as its last message.
  std::string render_continuation(const std::vector<ChatMessage>& history, const std::vector<ChatMessage>& added,
                                  bool add_generation_prompt) const;

 private:
  ChatTemplate(ChatFormat format, std::string bos_text, std::string eos_text);
  ChatFormat format_;
  std::string bos_text_;
  std::string eos_text_;
};

}  // namespace greta::tokenizer
