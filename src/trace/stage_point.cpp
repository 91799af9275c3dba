#include "trace/stage_point.h"

#include <array>

namespace greta::trace {
namespace {
constexpr std::array<std::string_view, kPointCount> kNames = {
    "x_in", "attn_norm", "q", "k", "v", "q_rope", "k_rope", "attn_out", "wo_out", "x_after_attn",
    "ffn_norm", "gate", "up", "ffn_act", "mlp_out", "x_out", "final_norm", "logits"};
}

std::string_view point_name(Point p) { return kNames[static_cast<int>(p)]; }

std::optional<Point> point_from_name(std::string_view name) {
  if (name == "lm_head_in") return Point::final_norm;
  if (name == "embed_out") return Point::x_in;
  for (int i = 0; i < kPointCount; ++i)
    if (kNames[i] == name) return static_cast<Point>(i);
  return std::nullopt;
}

bool is_matmul_point(Point p) {
  switch (p) {
    case Point::q: case Point::k: case Point::v: case Point::wo_out:
    case Point::gate: case Point::up: case Point::mlp_out: case Point::logits:
      return true;
    default:
      return false;
  }
}

}  // namespace greta::trace
