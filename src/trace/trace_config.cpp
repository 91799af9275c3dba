#include "trace/trace_config.h"

#include <cstdlib>
#include <regex>
#include <sstream>

#include "greta/error.h"

namespace greta::trace {
namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

}  // namespace

std::set<int> TraceConfig::parse_layers(const std::string& s, const std::string& what) {
  std::set<int> layers;
  if (s == "all" || s.empty()) return layers;
  static const std::regex range(R"((\d{1,6})(?:-(\d{1,6}))?)");
  for (const auto& item : split(s)) {
    std::smatch m;
    if (!std::regex_match(item, m, range)) throw InputError(what + ": '" + item + "' is not a layer or a range like 0-3");
    const int a = std::stoi(m[1]), b = m[2].matched ? std::stoi(m[2]) : a;
    if (b < a) throw InputError(what + ": empty range '" + item + "'");
    for (int l = a; l <= b; ++l) layers.insert(l);
  }
  return layers;
}

std::set<Point> TraceConfig::parse_points(const std::string& s, const std::string& what) {
  std::set<Point> points;
  if (s == "all" || s.empty()) return points;
  for (const auto& item : split(s)) {
    auto p = point_from_name(item);
    if (!p) throw InputError(what + ": unknown stage point '" + item + "'");
    points.insert(*p);
  }
  return points;
}

std::set<std::string> TraceConfig::parse_phases(const std::string& s, const std::string& what) {
  std::set<std::string> phases;
  static const std::regex valid(R"(prefill_last|prefill_all|prefill_row_\d+|decode\d+|decode_all)");
  for (const auto& item : split(s)) {
    if (!std::regex_match(item, valid))
      throw InputError(what + ": unknown phase '" + item + "' (prefill_last, prefill_row_I, prefill_all, decodeK, decode_all)");
    phases.insert(item);
  }
  if (phases.empty()) throw InputError(what + ": no phase given");
  return phases;
}

void TraceConfig::apply_environment() {
  if (const char* v = env("GRETA_TRACE_STAGE")) enabled = std::string(v) != "0";
  if (const char* v = env("GRETA_TRACE_STAGE_OUT")) out = v;
  if (const char* v = env("GRETA_TRACE_STAGE_LAYERS")) layers = parse_layers(v, "GRETA_TRACE_STAGE_LAYERS");
  if (const char* v = env("GRETA_TRACE_STAGE_POINTS")) points = parse_points(v, "GRETA_TRACE_STAGE_POINTS");
  if (const char* v = env("GRETA_TRACE_STAGE_PHASES")) phases = parse_phases(v, "GRETA_TRACE_STAGE_PHASES");
  if (const char* v = env("GRETA_TRACE_PROMPT_ID")) prompt_id = v;
}

void TraceConfig::check_layers(int n_layers) const {
  for (int l : layers)
    if (l >= n_layers)
      throw InputError("trace layers: layer " + std::to_string(l) + " is out of range (the model has " + std::to_string(n_layers) + " layers)");
}

}  // namespace greta::trace
