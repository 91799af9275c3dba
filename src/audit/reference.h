#pragma once
// Reference logits from another engine (../shared/README.md format) and the measures used
// to compare greta with them: max |Δlogit|, KL(ref‖greta), top-1 agreement.
#include <cstdint>
#include <string>
#include <vector>

namespace greta {

struct Reference {
  std::string path;
  std::string model;
  std::string prompt;
  bool add_bos = true;
  int64_t n_vocab = 0;
  std::vector<int32_t> prompt_tokens;
  std::vector<float> logits;        // [positions][n_vocab]
  std::vector<float> exact_logits;  // float64 textbook forward (stored f32); empty if absent
  std::vector<int32_t> greedy_tokens;
  std::string greedy_text;
  int64_t positions() const { return static_cast<int64_t>(prompt_tokens.size()); }

  // Reads the JSON and the .f32 files beside it; InputError on anything malformed.
  static Reference load(const std::string& json_path);
};

struct PositionDiff {
  double max_abs_diff = 0;
  double kl = 0;             // KL(ref ‖ ours), nats
  int32_t ref_top1 = -1, our_top1 = -1;
  double ref_gap = 0;        // reference top-1 minus top-2 logit
};

struct LogitsComparison {
  std::vector<PositionDiff> per_position;
  double max_abs_diff = 0;
  double mean_kl = 0, max_kl = 0;
  double top1_agreement = 0;            // fraction of positions
  double top1_agreement_confident = 0;  // over positions whose reference gap >= confident_gap
  int64_t confident_positions = 0;
};

// Compares logits [positions][n_vocab] row by row.
LogitsComparison compare_logits(const std::vector<float>& ref, const std::vector<float>& ours, int64_t n_vocab,
                                double confident_gap = 0.1);

// KL(p ‖ q) of the softmax distributions of two logit rows, in double precision.
double kl_divergence(const float* ref_logits, const float* our_logits, int64_t n);

}  // namespace greta
