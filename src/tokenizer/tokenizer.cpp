#include "tokenizer/tokenizer.h"

#include <optional>
#include <unordered_set>

#include "greta/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/token_table.h"
#include "tokenizer/unicode_bytes.h"

namespace greta::tokenizer {

namespace {

// Texts llama.cpp treats as ending a turn whatever their metadata says (its EOG list);
// the first present also serves as the EOT token when the vocabulary names none.
constexpr const char* kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>",      "_<EOT>",     "<|end_of_text|>", "<end_of_utterance>",
};
constexpr const char* kEotCandidates[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
};

std::string unescape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
      out += ' ';
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<uint8_t> parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]), lo = hex(text[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

// llama.cpp's detokenizer clean-up for BPE vocabularies: " ?" " !" " ." " ," lose their
// space, " ' " loses both, and " 's" " 'm" " 're" " 've" lose theirs.
std::string clean_up_spaces(const std::string& text) {
  std::string a;
  for (size_t i = 0; i < text.size(); ++i) {
    const char x = text[i];
    if (i > 0 && text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') && !a.empty()) a.pop_back();
    a += x;
  }
  std::string b;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    if (i > 0 && x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
      if (!b.empty()) b.pop_back();
      b += x;
      ++i;  // and the space after it
      continue;
    }
    b += x;
  }
  std::string c;
  for (size_t i = 0; i < b.size(); ++i) {
    const char x = b[i];
    if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
      const char x1 = b[i + 1];
      const char x2 = i + 2 < b.size() ? b[i + 2] : '\0';
      if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) {
        if (!c.empty()) c.pop_back();
      }
    }
    c += x;
  }
  return c;
}

}  // namespace

struct Tokenizer::Impl {
  Vocab vocab;
  VocabType type;
  TokenTable table;
  std::optional<SpmTokenizer> spm;
  std::optional<BpeTokenizer> bpe;
  std::optional<SpecialTokenSplitter> splitter;
  std::vector<std::string> pieces;  // each token's bytes, control tokens as their text
  std::unordered_set<TokenId> end_of_generation;
  TokenId eot = kNoToken;

  explicit Impl(Vocab v) : vocab(std::move(v)), table((vocab.validate("vocabulary"), vocab)) {
    if (vocab.model == "llama") {
      type = VocabType::SPM;
    } else if (vocab.model == "gpt2") {
      type = VocabType::BPE;
    } else if (vocab.model == "no_vocab") {
      throw InputError("the model has no vocabulary (tokenizer.ggml.model = no_vocab): give token ids instead of text");
    } else {
      throw InputError("tokenizer.ggml.model: unsupported tokenizer '" + vocab.model + "'");
    }

    eot = vocab.eot_id;
    if (eot == kNoToken) {
      for (const char* text : kEotCandidates) {
        if (TokenId id = table.find(text); id != kNoToken) {
          eot = id;
          break;
        }
      }
    }
    for (const char* text : kEndOfTurnTexts) {
      if (TokenId id = table.find(text); id != kNoToken) end_of_generation.insert(id);
    }
    for (TokenId id : {vocab.eos_id, eot, vocab.eom_id}) {
      if (id != kNoToken) end_of_generation.insert(id);
    }
    // As llama.cpp does: a token that ends generation is a control token, so that it is
    // neither parsed from plain text nor printed by default.
    for (TokenId id : end_of_generation) {
      if (table.type(id) != TokenType::CONTROL) table.set_type(id, TokenType::CONTROL);
    }

    if (type == VocabType::SPM) {
      spm.emplace(table, vocab.unk_id);
    } else {
      const bool is_llama3 = vocab.pre == "llama-bpe" || vocab.pre == "llama3" || vocab.pre == "llama-v3";
      bpe.emplace(table, vocab.merges, vocab.pre, is_llama3);
    }
    splitter.emplace(table);

    pieces.resize(static_cast<size_t>(table.size()));
    for (TokenId id = 0; id < table.size(); ++id) pieces[static_cast<size_t>(id)] = render_piece(id);
  }

  std::string render_piece(TokenId id) const {
    const std::string& text = table.text(id);
    switch (table.type(id)) {
      case TokenType::CONTROL:
      case TokenType::UNKNOWN:
      case TokenType::USER_DEFINED:
        return text;
      case TokenType::NORMAL:
        if (type == VocabType::SPM) return unescape_spaces(text);
        {
          std::string bytes;
          from_byte_level(text, bytes);  // characters outside the mapping are kept as they are
          return bytes;
        }
      case TokenType::BYTE:
        if (auto byte = parse_byte_token(text)) return std::string(1, static_cast<char>(*byte));
        if (type == VocabType::BPE) {
          std::string bytes;
          from_byte_level(text, bytes);
          return bytes;
        }
        return {};
      default:  // UNUSED, UNDEFINED: nothing, as in llama.cpp
        return {};
    }
  }

  void check_id(TokenId id) const {
    if (!table.valid(id)) {
      throw InputError("token id " + std::to_string(id) + " is out of range (vocabulary of " +
                       std::to_string(table.size()) + ")");
    }
  }
};

Tokenizer::Tokenizer(Vocab vocab) : impl_(std::make_unique<Impl>(std::move(vocab))) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && m.vocab.add_bos) out.push_back(m.vocab.bos_id);

  const std::vector<Fragment> fragments = m.splitter->split(text, parse_special);
  if (m.type == VocabType::SPM) {
    // SentencePiece's dummy prefix: a space before the text, and again after every
    // special token (llama.cpp's behaviour).
    bool after_special = true;
    std::string escaped;
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
        after_special = true;
        continue;
      }
      escaped.clear();
      if (m.vocab.add_space_prefix && after_special) escaped = "\xE2\x96\x81";
      escaped += escape_spaces(f.text);
      m.spm->encode(escaped, out);
      after_special = false;
    }
  } else {
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
      } else {
        m.bpe->encode(f.text, out);
      }
    }
  }

  if (add_special && m.vocab.add_eos) out.push_back(m.vocab.eos_id);
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  impl_->check_id(id);
  if (!render_special && impl_->table.is_special(id)) return {};
  return impl_->pieces[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(std::span<const TokenId> ids, const DecodeOptions& options) const {
  const Impl& m = *impl_;
  bool strip_space = m.vocab.add_space_prefix && options.sequence_start;
  if (options.remove_special && m.vocab.add_bos && !ids.empty() && ids.front() == m.vocab.bos_id) {
    strip_space = false;
    ids = ids.subspan(1);
  }
  if (options.remove_special && m.vocab.add_eos && !ids.empty() && ids.back() == m.vocab.eos_id) {
    ids = ids.subspan(0, ids.size() - 1);
  }
  std::string out;
  for (TokenId id : ids) {
    std::string piece = token_to_piece(id, options.render_special);
    if (strip_space && !piece.empty() && piece.front() == ' ') piece.erase(0, 1);
    strip_space = false;
    out += piece;
  }
  if (options.clean_up_spaces && m.type == VocabType::BPE) return clean_up_spaces(out);
  return out;
}

TokenId Tokenizer::bos() const { return impl_->vocab.bos_id; }
TokenId Tokenizer::eos() const { return impl_->vocab.eos_id; }
TokenId Tokenizer::eot() const { return impl_->eot; }
TokenId Tokenizer::unk() const { return impl_->vocab.unk_id; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }
bool Tokenizer::is_end_of_generation(TokenId id) const { return impl_->end_of_generation.count(id) > 0; }
bool Tokenizer::is_control(TokenId id) const { return impl_->table.valid(id) && impl_->table.is_special(id); }
int32_t Tokenizer::n_vocab() const { return impl_->table.size(); }
VocabType Tokenizer::type() const { return impl_->type; }
const Vocab& Tokenizer::vocab() const { return impl_->vocab; }
TokenId Tokenizer::find_token(std::string_view text) const { return impl_->table.find(text); }

}  // namespace greta::tokenizer
