#pragma once
// The generation loop shared by `run` and `chat`: prefill, then sample and decode token by
// token, streaming text, until end of generation, -n tokens or a full context.
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "model/session.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace greta::app {

struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated = 0;
  int64_t decode_steps = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  bool context_full = false;
  bool stopped_at_eog = false;
  int32_t eog_token = -1;  // the end-of-generation token that stopped it (not fed to the cache)
};

// `tok` may be null (no vocabulary): tokens are then emitted as their ids.
// before_decode(k) runs before decode step k (decode0 follows the prompt).
GenerationStats generate(Session& session, const tokenizer::Tokenizer* tok, sampling::Sampler& sampler,
                         std::span<const int32_t> prompt, int64_t n_predict,
                         const std::function<void(std::string_view)>& emit, std::vector<int32_t>* generated = nullptr,
                         const std::function<void(int64_t step)>& before_decode = {});

// "prefill: 12 tokens in 1.2 ms (10000.0 tok/s)" style lines on stderr.
void print_stats(const GenerationStats& s, double load_seconds);

}  // namespace greta::app
