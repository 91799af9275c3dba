#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_bytes.h"

namespace greta::tokenizer {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options)
    : tokenizer_(&tokenizer), options_(options) {}

std::string StreamDecoder::push(TokenId id) {
  const Vocab& vocab = tokenizer_->vocab();
  const bool first = first_;
  first_ = false;
  // Mirrors Tokenizer::decode. The end of the stream is not known here, so with
  // remove_special every EOS is dropped, not only a final one.
  bool strip_space = first && vocab.add_space_prefix && options_.sequence_start;
  if (options_.remove_special) {
    if (first && vocab.add_bos && id == vocab.bos_id) return {};
    if (vocab.add_eos && id == vocab.eos_id) return {};
  }
  std::string piece = tokenizer_->token_to_piece(id, options_.render_special);
  if (strip_space && !piece.empty() && piece.front() == ' ') piece.erase(0, 1);
  pending_ += piece;
  const size_t complete = complete_utf8_prefix(pending_);
  std::string out = pending_.substr(0, complete);
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace greta::tokenizer
