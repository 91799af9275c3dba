#include "tokenizer/chat_template.h"

#include "greta/error.h"
#include "tokenizer/vocab.h"

namespace greta::tokenizer {

namespace {

// Jinja's `trim`: Python's str.strip() over ASCII whitespace.
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\v\f";
  const size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

std::string render_llama3(const std::vector<ChatMessage>& messages, bool add_generation_prompt, const std::string& bos) {
  std::string out = bos;
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>";
    out += m.role;
    out += "<|end_header_id|>\n\n";
    out += trim(m.content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_chatml(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>";
    out += m.role;
    out += '\n';
    out += m.content;
    out += "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// Meta's Llama 2 chat format, as its Hugging Face template writes it.
std::string render_llama2(const std::vector<ChatMessage>& messages, const std::string& bos, const std::string& eos) {
  std::string out;
  std::string system;
  size_t first = 0;
  if (!messages.empty() && messages[0].role == "system") {
    system = "<<SYS>>\n" + trim(messages[0].content) + "\n<</SYS>>\n\n";
    first = 1;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const bool expect_user = (i - first) % 2 == 0;
    if (m.role != (expect_user ? "user" : "assistant")) {
      throw InputError("llama2 chat format: roles must alternate user/assistant after an optional system message (message " +
                       std::to_string(i) + " is '" + m.role + "')");
    }
    if (expect_user) {
      const std::string content = i == first ? system + m.content : m.content;
      out += bos;
      out += "[INST] ";
      out += trim(content);
      out += " [/INST]";
    } else {
      out += ' ';
      out += trim(m.content);
      out += ' ';
      out += eos;
    }
  }
  return out;
}

}  // namespace

ChatTemplate::ChatTemplate(ChatFormat format, std::string bos_text, std::string eos_text)
    : format_(format), bos_text_(std::move(bos_text)), eos_text_(std::move(eos_text)) {}

ChatTemplate ChatTemplate::from_name(std::string_view name) {
  if (name == "llama3") return ChatTemplate(ChatFormat::Llama3, "<|begin_of_text|>", "<|end_of_text|>");
  if (name == "llama2") return ChatTemplate(ChatFormat::Llama2, "<s>", "</s>");
  if (name == "chatml") return ChatTemplate(ChatFormat::ChatML, "", "");
  throw InputError("unknown chat template name '" + std::string(name) + "' (known: llama3, llama2, chatml)");
}

ChatTemplate ChatTemplate::from_template_text(std::string_view jinja) {
  if (jinja.find("<|start_header_id|>") != std::string_view::npos) return from_name("llama3");
  if (jinja.find("<|im_start|>") != std::string_view::npos) return from_name("chatml");
  if (jinja.find("[INST]") != std::string_view::npos) return from_name("llama2");
  throw InputError("chat template not recognised (supported: Llama 3 headers, Llama 2 [INST], ChatML); name one instead");
}

ChatTemplate ChatTemplate::for_vocab(const Vocab& vocab) {
  if (vocab.chat_template.empty()) throw InputError("the model has no chat template (tokenizer.chat_template); name one");
  ChatTemplate t = from_template_text(vocab.chat_template);
  auto text_of = [&](TokenId id, const std::string& fallback) {
    return id >= 0 && id < vocab.size() ? vocab.tokens[static_cast<size_t>(id)] : fallback;
  };
  if (t.format_ != ChatFormat::ChatML) {
    t.bos_text_ = text_of(vocab.bos_id, t.bos_text_);
    t.eos_text_ = text_of(vocab.eos_id, t.eos_text_);
  }
  return t;
}

std::string_view ChatTemplate::name() const {
  switch (format_) {
    case ChatFormat::Llama3: return "llama3";
    case ChatFormat::Llama2: return "llama2";
    case ChatFormat::ChatML: return "chatml";
  }
  return "";
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  switch (format_) {
    case ChatFormat::Llama3: return render_llama3(messages, add_generation_prompt, bos_text_);
    case ChatFormat::Llama2: return render_llama2(messages, bos_text_, eos_text_);
    case ChatFormat::ChatML: return render_chatml(messages, add_generation_prompt);
  }
  return {};
}

std::string ChatTemplate::render_continuation(const std::vector<ChatMessage>& history,
                                              const std::vector<ChatMessage>& added,
                                              bool add_generation_prompt) const {
  std::vector<ChatMessage> all = history;
  all.insert(all.end(), added.begin(), added.end());
  const std::string full = render(all, add_generation_prompt);
  if (history.empty()) return full;
  const std::string past = render(history, false);
  // The cache ends at the end-of-turn token of the last answer; what the format writes
  // after it (ChatML's "\n") is not in the cache yet and belongs to the continuation.
  const std::string end_of_turn = format_ == ChatFormat::Llama3   ? "<|eot_id|>"
                                  : format_ == ChatFormat::ChatML ? "<|im_end|>"
                                                                  : eos_text_;
  size_t cached = past.size();
  const size_t marker = past.rfind(end_of_turn);
  if (marker != std::string::npos) cached = marker + end_of_turn.size();
  if (full.compare(0, cached, past, 0, cached) != 0) {
    throw std::logic_error("chat template: the conversation's rendering does not extend its history's");
  }
  return full.substr(cached);
}

}  // namespace greta::tokenizer
