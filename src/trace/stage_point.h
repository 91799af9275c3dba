#pragma once
// The canonical stage points of the Llama forward, in pipeline order (DESIGN §3).
#include <optional>
#include <string_view>

namespace greta::trace {

enum class Point : int {
  x_in, attn_norm, q, k, v, q_rope, k_rope, attn_out, wo_out, x_after_attn,
  ffn_norm, gate, up, ffn_act, mlp_out, x_out,
  final_norm, logits,
};
inline constexpr int kPointCount = 18;
inline constexpr int kPerLayerPointCount = 16;  // x_in .. x_out

std::string_view point_name(Point p);
// Accepts every canonical name plus the aliases "lm_head_in" (final_norm) and "embed_out" (x_in).
std::optional<Point> point_from_name(std::string_view name);
// final_norm and logits occur once per forward, after the last layer.
inline bool is_model_level(Point p) { return p == Point::final_norm || p == Point::logits; }
// Points produced by a matrix product (weights × activation).
bool is_matmul_point(Point p);

}  // namespace greta::trace
