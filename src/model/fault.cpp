#include "model/fault.h"

#include <charconv>
#include <cmath>

#include "greta/error.h"

namespace greta {
namespace {

[[noreturn]] void bad(const std::string& spec, const std::string& why) {
  throw InputError("--inject '" + spec + "': " + why + " (expected ROUTE:POINT[@LAYER]:KIND[=ARG], e.g. decode:wo_out@3:transpose)");
}

double parse_number(const std::string& spec, const std::string& text) {
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(v)) bad(spec, "'" + text + "' is not a number");
    return v;
  } catch (const std::logic_error&) {
    bad(spec, "'" + text + "' is not a number");
  }
}

}  // namespace

const char* path_name(Path p) { return p == Path::Prefill ? "prefill" : "decode"; }

Fault parse_fault(const std::string& spec, int n_layers) {
  Fault f;
  f.spec = spec;
  const size_t c1 = spec.find(':');
  const size_t c2 = c1 == std::string::npos ? std::string::npos : spec.find(':', c1 + 1);
  if (c2 == std::string::npos || spec.find(':', c2 + 1) != std::string::npos) bad(spec, "it needs exactly three ':'-separated parts");
  const std::string route = spec.substr(0, c1);
  std::string where = spec.substr(c1 + 1, c2 - c1 - 1);
  std::string kind = spec.substr(c2 + 1);

  if (route == "prefill") f.on_prefill = true;
  else if (route == "decode") f.on_decode = true;
  else if (route == "both") f.on_prefill = f.on_decode = true;
  else bad(spec, "unknown route '" + route + "' (prefill, decode or both)");

  if (const size_t at = where.find('@'); at != std::string::npos) {
    const std::string layer = where.substr(at + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(layer.data(), layer.data() + layer.size(), value);
    if (ec != std::errc() || end != layer.data() + layer.size() || value < 0) bad(spec, "layer '" + layer + "' is not a non-negative integer");
    if (value >= n_layers) bad(spec, "layer " + layer + " is out of range (the model has " + std::to_string(n_layers) + " layers)");
    f.layer = value;
    where = where.substr(0, at);
  }
  auto point = trace::point_from_name(where);
  if (!point) bad(spec, "unknown stage point '" + where + "'");
  f.point = *point;
  if (trace::is_model_level(f.point)) f.layer = -1;

  std::string arg;
  if (const size_t eq = kind.find('='); eq != std::string::npos) {
    arg = kind.substr(eq + 1);
    kind = kind.substr(0, eq);
  }
  auto need_arg = [&](bool needed) {
    if (needed && arg.empty()) bad(spec, "kind '" + kind + "' needs a value (" + kind + "=...)");
    if (!needed && !arg.empty()) bad(spec, "kind '" + kind + "' takes no value");
  };
  if (kind == "transpose") {
    need_arg(false);
    if (!trace::is_matmul_point(f.point)) bad(spec, "transpose applies only to matrix points (q, k, v, wo_out, gate, up, mlp_out, logits)");
    f.kind = FaultKind::Transpose;
  } else if (kind == "offset") {
    need_arg(true);
    f.kind = FaultKind::Offset;
    f.arg = parse_number(spec, arg);
    if (f.arg != std::floor(f.arg) || f.arg == 0 || std::fabs(f.arg) > 1e9) bad(spec, "offset needs a nonzero integer");
  } else if (kind == "scale") {
    need_arg(true);
    f.kind = FaultKind::Scale;
    f.arg = parse_number(spec, arg);
  } else if (kind == "zero") {
    need_arg(false);
    f.kind = FaultKind::Zero;
  } else if (kind == "noise") {
    need_arg(true);
    f.kind = FaultKind::Noise;
    f.arg = parse_number(spec, arg);
    if (f.arg <= 0) bad(spec, "noise needs a positive relative scale");
  } else if (kind == "skip") {
    need_arg(false);
    f.kind = FaultKind::Skip;
  } else {
    bad(spec, "unknown kind '" + kind + "' (transpose, offset=N, scale=F, zero, noise=S, skip)");
  }
  return f;
}

}  // namespace greta
