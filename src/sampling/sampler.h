#pragma once
// Choosing the next token from a row of logits, with llama.cpp's semantics and order:
//   repetition penalty → top-k → top-p → min-p → temperature → seeded draw.
// top-p and min-p therefore see the distribution at temperature 1, as in llama.cpp.
// A temperature of 0 (or below) is greedy: the argmax of the penalised logits.
//
// Deterministic by construction: the random draw uses a hand-written generator (rng.h)
// and every ordering breaks ties by the lower token id, so the same seed and the same
// logits give the same tokens on any platform.
#include <cstdint>
#include <span>
#include <vector>

#include "sampling/rng.h"

namespace greta::sampling {

struct SamplerParams {
  float temperature = 0.8f;    // <= 0: greedy
  int top_k = 40;              // 0: off
  float top_p = 0.95f;         // 1: off
  float min_p = 0.05f;         // 0: off
  float repeat_penalty = 1.0f; // 1: off
  int repeat_last_n = 64;      // how many accepted tokens the penalty looks back; 0: off, -1: all
  uint64_t seed = 0x5EED;
};

// Index of the largest value; the lowest index wins ties. NaN never wins (an all-NaN or
// empty row gives 0 / -1 respectively).
int32_t argmax(std::span<const float> logits);

class Sampler {
 public:
  // Throws InputError for parameters outside their meaning (top_p not in (0,1], ...).
  explicit Sampler(SamplerParams params = {});

  // Picks a token from one row of logits (one per vocabulary entry). Does not record it:
  // call accept() with the token actually used (and with prompt tokens, if they should
  // count for the repetition penalty, as llama.cpp does).
  int32_t sample(std::span<const float> logits);

  // Records a token for the repetition penalty window.
  void accept(int32_t token);

  // Forgets the history and restarts the random sequence from the seed.
  void reset();

  const SamplerParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };
  void apply_repeat_penalty();
  // The m best of vals_ (logit desc, id asc) into cand_, sorted, without sorting the row.
  void select_top(size_t m);
  static constexpr size_t kBlock = 64;
  void block_maxima();  // maxima_[b]: the largest of vals_[64 b, 64 b + 64)
  // cand_: every id whose value reaches `threshold`, in id order (only the blocks whose
  // maximum reaches it are read).
  void collect_reaching(float threshold);
  // cand_ holding every id in order (while all_, it stands for that without being built).
  void materialize();
  size_t n_candidates() const { return all_ ? vals_.size() : cand_.size(); }
  void keep_top_k();
  void sort_candidates();
  bool cut_at_top_p(double max_l, double total);
  void keep_top_p();
  void keep_min_p();
  int32_t draw();

  SamplerParams params_;
  Xoshiro256 rng_;
  std::vector<int32_t> history_;  // accepted tokens, oldest first (trimmed to the window)
  // Scratch, reused across calls: the row's values (NaN as -inf, penalised), block maxima,
  // the candidates left.
  std::vector<float> vals_, maxima_, sel_;
  float row_max_ = 0;   // the largest of vals_ (after the penalty)
  std::vector<Candidate> cand_;
  bool all_ = true;     // every id is still a candidate (cand_ not built)
  bool sorted_ = false; // cand_ is in (logit desc, id asc) order
};

}  // namespace greta::sampling
