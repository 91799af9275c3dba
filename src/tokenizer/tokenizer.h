#pragma once
// Text <-> token ids for Llama-family models: SentencePiece-style ("llama") and
// byte-level BPE ("gpt2") vocabularies, special tokens, streaming decode, chat templates.
//
// Encoding reproduces llama.cpp's llama_tokenize; decoding reproduces llama_detokenize
// (with clean-up of spaces off, so that decode(encode(s)) == s; see DecodeOptions).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/vocab.h"

namespace greta::tokenizer {

enum class VocabType { SPM, BPE };

struct DecodeOptions {
  // Render control and unknown tokens (<|eot_id|>, <s>, <unk>) as their text; otherwise
  // they produce nothing (llama.cpp's `unparse_special`).
  bool render_special = false;
  // Drop a leading BOS and a trailing EOS when the vocabulary adds them
  // (llama.cpp's `remove_special`).
  bool remove_special = false;
  // The ids start a sequence, so a vocabulary with add_space_prefix drops one leading
  // space from the first piece (the "▁" SentencePiece prepended). As in llama.cpp, a BOS
  // removed by remove_special cancels this, and a BOS kept as the first id (rendering
  // as "") takes the strip itself, so text after a BOS keeps its space.
  bool sequence_start = true;
  // llama.cpp's clean-up of " ," " ." " 's" ... for BPE vocabularies (lossy: off by default).
  bool clean_up_spaces = false;
};

class Tokenizer {
 public:
  // Throws InputError for a vocabulary that cannot be used: "no_vocab", an unknown
  // model or pre-tokenizer name, inconsistent fields.
  explicit Tokenizer(Vocab vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // add_special: BOS/EOS as the vocabulary asks (add_bos/add_eos).
  // parse_special: control tokens written in the text (<|eot_id|>, <s>) become their ids;
  // when false they are tokenized as plain text. User-defined tokens are always split out.
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes of one token: "▁" -> " ", <0xXX> -> that byte, byte-level BPE decoded.
  // Control/unknown tokens give "" unless render_special; unused tokens always "".
  std::string token_to_piece(TokenId id, bool render_special = false) const;
  std::string decode(std::span<const TokenId> ids, const DecodeOptions& options = {}) const;

  TokenId bos() const;
  TokenId eos() const;
  TokenId eot() const;  // end of turn (<|eot_id|>, <|im_end|>, ...) or kNoToken
  TokenId unk() const;
  bool add_bos() const;
  // EOS, EOT, EOM and the end-of-turn tokens llama.cpp recognises by their text.
  bool is_end_of_generation(TokenId id) const;
  bool is_control(TokenId id) const;  // control or unknown: rendered "" by default
  int32_t n_vocab() const;
  VocabType type() const;
  const Vocab& vocab() const;
  // The token whose text is exactly `text`, or kNoToken.
  TokenId find_token(std::string_view text) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of ids into text that never ends inside a UTF-8 character: bytes of an
// incomplete character are held back until the ids that complete it arrive. The
// concatenation of everything push() and flush() return equals decode() of all the ids
// with the same options. For generated text after a prompt, pass sequence_start = false
// so the first piece keeps its space (" there" after "Once upon a time").
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options = {.sequence_start = false});
  // Returns the text that became complete with this id (possibly "").
  std::string push(TokenId id);
  // Returns whatever is held back (an incomplete character at the end of the stream).
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  DecodeOptions options_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace greta::tokenizer
